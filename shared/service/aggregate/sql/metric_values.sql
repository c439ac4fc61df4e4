{{/*
  hourly_metric_values of one UTC hour and daily_metric_values of one UTC day (DESIGN.md, "Metrics
  catalog"), the same text for Athena and DuckDB: one row per device, period and declared metric of
  the catalog with readings in the period's silver rows (their metrics column), computed as
  hourly.sql computes temperature's (the same rounding of averages, the same percentile). A
  metric the catalog no longer declares has no row, though silver rows written before may hold it.
*/}}
WITH readings AS (
  SELECT device_id, {{epoch_ms "event_time"}} AS event_ms, metrics
  FROM ({{silver}}) s
),
declared_metrics AS (
  -- the declared metrics, one row each (none: a row of NULL, which no value matches)
  SELECT metric FROM (VALUES {{range $i, $m := declared}}{{if $i}}, {{end}}({{$m.Name}}){{else}}(CAST(NULL AS VARCHAR)){{end}}) AS c(metric)
),
metric_values AS (
  SELECT r.device_id, r.event_ms, c.metric, {{metric_value "r.metrics" "c.metric"}} AS value
  FROM readings r
  CROSS JOIN declared_metrics c
),
per_metric AS (
  -- averages are rounded to 6 decimals: parallel sums differ in their last bits from run to run,
  -- and a re-run must give the same rows
  SELECT device_id, metric,
    min(event_ms) - min(event_ms) % {{.PeriodMs}} AS period_ms,
    count(*) AS readings,
    min(value) AS value_min,
    round(avg(value), 6) AS value_avg,
    max(value) AS value_max,
    {{pct "value" "0.95"}} AS value_p95
  FROM metric_values
  WHERE value IS NOT NULL
  GROUP BY device_id, metric
)
SELECT device_id, {{ts_from_ms "period_ms"}} AS {{.StartColumn}}, metric, CAST(readings AS BIGINT) AS readings,
  value_min, value_avg, value_max, value_p95
FROM per_metric
ORDER BY device_id, metric
