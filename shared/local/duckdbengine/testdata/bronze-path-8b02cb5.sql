-- The first edition's hourly statement (commit 8b02cb5, shared/service/aggregate/testdata/duckdb-2026-03-01T07.sql):
-- gold straight from bronze JSON, without the rejections index. BenchmarkAggregateHour measures it
-- beside the silver path. Parameters: 1:min_event_ms=946684800000 2:max_event_ms=7258118400000 3:start_ms=1772348400000 4:end_ms=1772352000000 5:start_ms=1772348400000 6:end_ms=1772352000000 7:expected_readings=60
COPY (

WITH src AS (
  SELECT
    CAST(j[1] AS VARCHAR) AS device_id_j,
    CAST(j[2] AS VARCHAR) AS event_time_j,
    CAST(j[3] AS VARCHAR) AS msg_id_j,
    CAST(j[4] AS VARCHAR) AS temperature_j,
    CAST(j[5] AS VARCHAR) AS humidity_j,
    CAST(j[6] AS VARCHAR) AS light_j,
    CAST(j[7] AS VARCHAR) AS co2_j,
    CAST(j[8] AS VARCHAR) AS humidity_ratio_j,
    CAST(j[9] AS VARCHAR) AS occupancy_j,
    -- json_keys lists the top-level names as written (escapes decoded), repeats included
    coalesce(len(keys) <> len(list_distinct(keys)), false) AS repeated
  FROM (
    SELECT json_extract(json, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
      '$.light', '$.co2', '$.humidity_ratio', '$.occupancy']) AS j,
      json_keys(json) AS keys
    FROM read_json_objects({{BRONZE}}, format = 'newline_delimited', ignore_errors = true, maximum_object_size = 1048576)
    -- not the lines the evaluation rejected for what the line alone cannot show
    
  )
),
parsed AS (
  SELECT
    CASE WHEN coalesce(regexp_matches(device_id_j, '^"[A-Za-z0-9:_-]{1,128}"$'), false) THEN substr(device_id_j, 2, length(device_id_j) - 2) END AS device_id,
    CASE WHEN coalesce(regexp_matches(event_time_j, '^"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"$'), false)
      THEN TRY_CAST(substr(event_time_j, 2, length(event_time_j) - 2) AS TIMESTAMPTZ) END AS ts,
    CASE WHEN msg_id_j IS NULL OR msg_id_j = 'null' THEN ''
      WHEN msg_id_j LIKE '"%' AND length(msg_id_j) <= 130 THEN substr(msg_id_j, 2, length(msg_id_j) - 2) END AS msg_id,
    TRY_CAST(temperature_j AS DOUBLE) AS temperature,
    TRY_CAST(humidity_j AS DOUBLE) AS humidity,
    TRY_CAST(light_j AS DOUBLE) AS light,
    TRY_CAST(co2_j AS DOUBLE) AS co2,
    TRY_CAST(humidity_ratio_j AS DOUBLE) AS humidity_ratio,
    TRY_CAST(occupancy_j AS DOUBLE) AS occupancy,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j, repeated
  FROM src
),
valid AS (
  SELECT device_id, msg_id, epoch_ms(ts) AS event_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy
  FROM parsed
  WHERE device_id IS NOT NULL AND ts IS NOT NULL AND msg_id IS NOT NULL
    -- a field name repeated at the top level makes the line malformed (engines disagree on which
    -- copy wins); an event time outside the range of the decoder is a device clock fault
    AND NOT repeated
    AND epoch_ms(ts) >= ? AND epoch_ms(ts) < ?
    -- a metric that is present must be a number within its range. The engines re-serialize the
    -- JSON they extract, so the text of a metric is a JSON number, a quoted string, null, true, false,
    -- an object or an array: TRY_CAST to DOUBLE succeeds for numbers only (an overflowing one
    -- becomes infinite, and out of range).
    AND (temperature_j IS NULL OR temperature BETWEEN -50 AND 150)
    AND (humidity_j IS NULL OR humidity BETWEEN 0 AND 100)
    AND (light_j IS NULL OR light BETWEEN 0 AND 200000)
    AND (co2_j IS NULL OR co2 BETWEEN 0 AND 100000)
    AND (humidity_ratio_j IS NULL OR humidity_ratio BETWEEN 0 AND 1)
    AND (occupancy_j IS NULL OR occupancy IN (0, 1))
    -- and at least one is present
    AND (temperature_j IS NOT NULL OR humidity_j IS NOT NULL OR light_j IS NOT NULL
      OR co2_j IS NOT NULL OR humidity_ratio_j IS NOT NULL OR occupancy_j IS NOT NULL)
),
readings AS (
  -- one row per reading identity: (device_id, msg_id), or (device_id, event_time) without msg_id.
  -- Copies of a reading are normally identical; where they are not, min() keeps the result
  -- deterministic.
  SELECT device_id, min(event_ms) AS event_ms,
    min(temperature) AS temperature, min(humidity) AS humidity, min(light) AS light,
    min(co2) AS co2, min(humidity_ratio) AS humidity_ratio, min(occupancy) AS occupancy
  FROM valid
  WHERE event_ms >= ? AND event_ms < ?
  GROUP BY device_id, CASE WHEN msg_id <> '' THEN 'm:' || msg_id ELSE 't:' || CAST(event_ms AS VARCHAR) END
),
metrics AS (
  -- averages are rounded to 6 decimals: parallel sums differ in their last bits from run to run,
  -- and a re-run must give the same rows
  SELECT device_id,
    min(event_ms) - min(event_ms) % 3600000 AS hour_ms,
    count(*) AS readings,
    min(temperature) AS temperature_min,
    round(avg(temperature), 6) AS temperature_avg,
    max(temperature) AS temperature_max,
    quantile_cont(temperature, 0.5) AS temperature_p50,
    quantile_cont(temperature, 0.95) AS temperature_p95,
    round(avg(humidity), 6) AS humidity_avg,
    round(avg(light), 6) AS light_avg,
    max(light) AS light_max,
    round(avg(co2), 6) AS co2_avg,
    max(co2) AS co2_max,
    round(avg(occupancy), 6) AS occupancy_ratio
  FROM readings
  GROUP BY device_id
),
alert_counts AS (
  -- OPEN and ESCALATE alerts of the device in the hour, all users; a repeat of an alert_id counts once
  SELECT device_id,
    count(DISTINCT CASE WHEN severity = 'WARNING' THEN alert_id END) AS alerts_warning,
    count(DISTINCT CASE WHEN severity = 'VIOLATION' THEN alert_id END) AS alerts_violation
  FROM (SELECT CAST(NULL AS VARCHAR) AS alert_id, CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS VARCHAR) AS severity,
  CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS VARCHAR) AS alert_time WHERE false) a
  WHERE kind IN ('OPEN', 'ESCALATE')
    AND epoch_ms(TRY_CAST(alert_time AS TIMESTAMPTZ)) >= ? AND epoch_ms(TRY_CAST(alert_time AS TIMESTAMPTZ)) < ?
  GROUP BY device_id
),
settings AS (
  -- the configured readings per hour (3600 / the nominal interval), as a one-row relation
  SELECT n AS expected_readings FROM range(1, 3601) AS t(n) WHERE n = ?
)
SELECT
  m.device_id,
  make_timestamp(m.hour_ms * 1000) AS hour_start,
  m.readings,
  m.temperature_min, m.temperature_avg, m.temperature_max, m.temperature_p50, m.temperature_p95,
  m.humidity_avg, m.light_avg, m.light_max, m.co2_avg, m.co2_max, m.occupancy_ratio,
  CAST(s.expected_readings AS BIGINT) AS expected_readings,
  least(CAST(100 AS DOUBLE), CAST(m.readings AS DOUBLE) * 100 / s.expected_readings) AS health_pct,
  coalesce(a.alerts_warning, 0) AS alerts_warning,
  coalesce(a.alerts_violation, 0) AS alerts_violation
FROM metrics m
CROSS JOIN settings s
LEFT JOIN alert_counts a ON a.device_id = m.device_id
ORDER BY m.device_id

) TO {{OUTPUT}} (FORMAT parquet, COMPRESSION zstd)
