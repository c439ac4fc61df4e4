-- create silver_readings
CREATE TABLE IF NOT EXISTS iotwatch_lake.silver_readings (
  device_id string,
  event_time timestamp,
  msg_id string,
  temperature double,
  humidity double,
  light double,
  co2 double,
  humidity_ratio double,
  occupancy double,
  out_of_range string,
  alert_rules string,
  copies bigint,
  source_object string,
  ingested_at timestamp,
  processed_at timestamp,
  pipeline_version string,
  metrics map<string,double>)
PARTITIONED BY (day(event_time))
LOCATION 's3://iotwatch-lake-123456789012/silver/readings/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create hourly_metrics
CREATE TABLE IF NOT EXISTS iotwatch_lake.hourly_metrics (
  device_id string,
  hour_start timestamp,
  readings bigint,
  temperature_min double,
  temperature_avg double,
  temperature_max double,
  temperature_p50 double,
  temperature_p95 double,
  humidity_avg double,
  light_avg double,
  light_max double,
  co2_avg double,
  co2_max double,
  occupancy_ratio double,
  expected_readings bigint,
  health_pct double,
  alerts_warning bigint,
  alerts_violation bigint)
PARTITIONED BY (day(hour_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/hourly_metrics/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create daily_metrics
CREATE TABLE IF NOT EXISTS iotwatch_lake.daily_metrics (
  device_id string,
  day_start timestamp,
  readings bigint,
  temperature_min double,
  temperature_avg double,
  temperature_max double,
  temperature_p50 double,
  temperature_p95 double,
  humidity_avg double,
  light_avg double,
  light_max double,
  co2_avg double,
  co2_max double,
  occupancy_ratio double,
  expected_readings bigint,
  health_pct double,
  alerts_warning bigint,
  alerts_violation bigint)
PARTITIONED BY (month(day_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/daily_metrics/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create dq_hourly
CREATE TABLE IF NOT EXISTS iotwatch_lake.dq_hourly (
  hour_start timestamp,
  device_id string,
  bronze_records bigint,
  valid_records bigint,
  valid_readings bigint,
  duplicates bigint,
  rejected bigint,
  rejected_by_reason string,
  temperature_null_pct double,
  humidity_null_pct double,
  light_null_pct double,
  co2_null_pct double,
  humidity_ratio_null_pct double,
  occupancy_null_pct double,
  late_arrivals bigint,
  expected_readings bigint,
  pass_rate_pct double,
  fleet_pass_rate_pct double)
PARTITIONED BY (day(hour_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/dq_hourly/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create location_hourly
CREATE TABLE IF NOT EXISTS iotwatch_lake.location_hourly (
  location string,
  hour_start timestamp,
  devices_known bigint,
  devices_reporting bigint,
  readings bigint,
  temperature_avg double,
  co2_avg double,
  expected_readings bigint,
  health_pct double)
PARTITIONED BY (day(hour_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/location_hourly/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create hourly_metric_values
CREATE TABLE IF NOT EXISTS iotwatch_lake.hourly_metric_values (
  device_id string,
  hour_start timestamp,
  metric string,
  readings bigint,
  value_min double,
  value_avg double,
  value_max double,
  value_p95 double)
PARTITIONED BY (day(hour_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/hourly_metric_values/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

-- create daily_metric_values
CREATE TABLE IF NOT EXISTS iotwatch_lake.daily_metric_values (
  device_id string,
  day_start timestamp,
  metric string,
  readings bigint,
  value_min double,
  value_avg double,
  value_max double,
  value_p95 double)
PARTITIONED BY (month(day_start))
LOCATION 's3://iotwatch-lake-123456789012/gold/daily_metric_values/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')
-- parameters:

