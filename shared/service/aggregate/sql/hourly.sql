{{/*
  Hourly aggregates of one UTC hour and daily aggregates (DESIGN.md, "Hourly aggregates", "Silver and
  daily gold"), the same text for Athena (Trino) and DuckDB, computed from the period's
  silver_readings (a day's values from its readings, not from its hours). The dialect supplies: silver (the
  hour's silver rows), alerts (the hour's alerts), ts (parse RFC 3339), epoch_ms, ts_from_ms, pct
  (percentile), integers (the table 1..n); param emits a positional parameter. Athena takes
  parameters only in WHERE clauses: every param below stands in one.
*/}}
WITH readings AS (
  SELECT device_id, {{epoch_ms "event_time"}} AS event_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy
  FROM ({{silver}}) s
),
metrics AS (
  -- averages are rounded to 6 decimals: parallel sums differ in their last bits from run to run,
  -- and a re-run must give the same rows
  SELECT device_id,
    min(event_ms) - min(event_ms) % {{.PeriodMs}} AS hour_ms,
    count(*) AS readings,
    min(temperature) AS temperature_min,
    round(avg(temperature), 6) AS temperature_avg,
    max(temperature) AS temperature_max,
    {{pct "temperature" "0.5"}} AS temperature_p50,
    {{pct "temperature" "0.95"}} AS temperature_p95,
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
  FROM ({{alerts}}) a
  WHERE kind IN ('OPEN', 'ESCALATE')
    AND {{ts "alert_time" | epoch_ms}} >= {{param "start_ms"}} AND {{ts "alert_time" | epoch_ms}} < {{param "end_ms"}}
  GROUP BY device_id
),
settings AS (
  -- the configured readings per hour (3600 / the nominal interval) times the hours of the period,
  -- as a one-row relation
  SELECT n * {{.PeriodHours}} AS expected_readings FROM {{integers 3600}} WHERE n = {{param "expected_readings"}}
)
SELECT
  m.device_id,
  {{ts_from_ms "m.hour_ms"}} AS {{.StartColumn}},
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
