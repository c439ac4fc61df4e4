-- daily delete
DELETE FROM iotwatch_lake.daily_metrics WHERE day_start = TIMESTAMP '2026-03-01 00:00:00'
-- parameters:

-- daily insert
INSERT INTO iotwatch_lake.daily_metrics

WITH readings AS (
  SELECT device_id, CAST(floor(to_unixtime(event_time) * 1000) AS BIGINT) AS event_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy
  FROM (SELECT * FROM iotwatch_lake.silver_readings WHERE event_time >= CAST(? AS TIMESTAMP) AND event_time < CAST(? AS TIMESTAMP)) s
),
metrics AS (
  -- averages are rounded to 6 decimals: parallel sums differ in their last bits from run to run,
  -- and a re-run must give the same rows
  SELECT device_id,
    min(event_ms) - min(event_ms) % 86400000 AS hour_ms,
    count(*) AS readings,
    min(temperature) AS temperature_min,
    round(avg(temperature), 6) AS temperature_avg,
    max(temperature) AS temperature_max,
    approx_percentile(temperature, 0.5) AS temperature_p50,
    approx_percentile(temperature, 0.95) AS temperature_p95,
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
  -- OPEN and ESCALATE alerts of the device in the period, all users; a repeat of an alert_id counts once
  SELECT device_id,
    count(DISTINCT CASE WHEN severity = 'WARNING' THEN alert_id END) AS alerts_warning,
    count(DISTINCT CASE WHEN severity = 'VIOLATION' THEN alert_id END) AS alerts_violation
  FROM (SELECT alert_id, kind, severity, device_id, rule, alert_time FROM iotwatch_lake.alerts WHERE dt = ?) a
  WHERE kind IN ('OPEN', 'ESCALATE')
    AND CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT) >= ? AND CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT) < ?
  GROUP BY device_id
),
settings AS (
  -- the configured readings per hour (3600 / the nominal interval) times the hours of the period,
  -- as a one-row relation
  SELECT n * 24 AS expected_readings FROM UNNEST(sequence(1, 3600)) AS t(n) WHERE n = ?
)
SELECT
  m.device_id,
  CAST(from_unixtime(CAST(m.hour_ms AS DOUBLE) / 1000) AS TIMESTAMP) AS day_start,
  m.readings,
  m.temperature_min, m.temperature_avg, m.temperature_max, m.temperature_p50, m.temperature_p95,
  m.humidity_avg, m.light_avg, m.light_max, m.co2_avg, m.co2_max, m.occupancy_ratio,
  CAST(s.expected_readings AS BIGINT) AS expected_readings,
  -- health: aggregate.Health (health.go) is the same figure in Go, for the pages
  least(CAST(100 AS DOUBLE), CAST(m.readings AS DOUBLE) * 100 / s.expected_readings) AS health_pct,
  coalesce(a.alerts_warning, 0) AS alerts_warning,
  coalesce(a.alerts_violation, 0) AS alerts_violation
FROM metrics m
CROSS JOIN settings s
LEFT JOIN alert_counts a ON a.device_id = m.device_id
ORDER BY m.device_id
-- parameters: 1:start_ts='2026-03-01 00:00:00' 2:end_ts='2026-03-02 00:00:00' 3:dt='2026-03-01' 4:start_ms=1772323200000 5:end_ms=1772409600000 6:expected_readings=60

-- daily_metric_values delete
DELETE FROM iotwatch_lake.daily_metric_values WHERE day_start = TIMESTAMP '2026-03-01 00:00:00'
-- parameters:

-- daily_metric_values insert
INSERT INTO iotwatch_lake.daily_metric_values

WITH readings AS (
  SELECT device_id, CAST(floor(to_unixtime(event_time) * 1000) AS BIGINT) AS event_ms, metrics
  FROM (SELECT * FROM iotwatch_lake.silver_readings WHERE event_time >= CAST(? AS TIMESTAMP) AND event_time < CAST(? AS TIMESTAMP)) s
),
declared_metrics AS (
  -- the declared metrics, one row each (none: a row of NULL, which no value matches)
  SELECT metric FROM (VALUES (CAST(NULL AS VARCHAR))) AS c(metric)
),
metric_values AS (
  SELECT r.device_id, r.event_ms, c.metric, element_at(r.metrics, c.metric) AS value
  FROM readings r
  CROSS JOIN declared_metrics c
),
per_metric AS (
  -- averages are rounded to 6 decimals: parallel sums differ in their last bits from run to run,
  -- and a re-run must give the same rows
  SELECT device_id, metric,
    min(event_ms) - min(event_ms) % 86400000 AS period_ms,
    count(*) AS readings,
    min(value) AS value_min,
    round(avg(value), 6) AS value_avg,
    max(value) AS value_max,
    approx_percentile(value, 0.95) AS value_p95
  FROM metric_values
  WHERE value IS NOT NULL
  GROUP BY device_id, metric
)
SELECT device_id, CAST(from_unixtime(CAST(period_ms AS DOUBLE) / 1000) AS TIMESTAMP) AS day_start, metric, CAST(readings AS BIGINT) AS readings,
  value_min, value_avg, value_max, value_p95
FROM per_metric
ORDER BY device_id, metric
-- parameters: 1:start_ts='2026-03-01 00:00:00' 2:end_ts='2026-03-02 00:00:00'

