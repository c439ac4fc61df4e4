-- optimize silver_readings
OPTIMIZE iotwatch_lake.silver_readings REWRITE DATA USING BIN_PACK WHERE event_time >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum silver_readings
VACUUM iotwatch_lake.silver_readings
-- parameters:

-- optimize hourly_metrics
OPTIMIZE iotwatch_lake.hourly_metrics REWRITE DATA USING BIN_PACK WHERE hour_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum hourly_metrics
VACUUM iotwatch_lake.hourly_metrics
-- parameters:

-- optimize daily_metrics
OPTIMIZE iotwatch_lake.daily_metrics REWRITE DATA USING BIN_PACK WHERE day_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum daily_metrics
VACUUM iotwatch_lake.daily_metrics
-- parameters:

-- optimize dq_hourly
OPTIMIZE iotwatch_lake.dq_hourly REWRITE DATA USING BIN_PACK WHERE hour_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum dq_hourly
VACUUM iotwatch_lake.dq_hourly
-- parameters:

-- optimize location_hourly
OPTIMIZE iotwatch_lake.location_hourly REWRITE DATA USING BIN_PACK WHERE hour_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum location_hourly
VACUUM iotwatch_lake.location_hourly
-- parameters:

-- optimize hourly_metric_values
OPTIMIZE iotwatch_lake.hourly_metric_values REWRITE DATA USING BIN_PACK WHERE hour_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum hourly_metric_values
VACUUM iotwatch_lake.hourly_metric_values
-- parameters:

-- optimize daily_metric_values
OPTIMIZE iotwatch_lake.daily_metric_values REWRITE DATA USING BIN_PACK WHERE day_start >= TIMESTAMP '2026-02-27 00:00:00'
-- parameters:

-- vacuum daily_metric_values
VACUUM iotwatch_lake.daily_metric_values
-- parameters:

