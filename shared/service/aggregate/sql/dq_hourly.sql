{{/*
  dq_hourly of one UTC hour (DESIGN.md, "dq_hourly"), the same text for Athena and DuckDB: per
  device, the hour's bronze lines (checked as in silver.sql: a batched line's elements each
  accepted or rejected, in the hour of their event time) against the readings silver keeps, and
  one row with device_id NULL for the lines no device can be told for. Athena takes parameters only
  in WHERE clauses.
*/}}
WITH {{if .CheckedTable}}checked AS (SELECT * FROM {{.CheckedTable}}){{else}}{{template "lines.sql" .}}{{end}},
per_line AS (
  -- the bronze lines of the hour (a batched line filed in several hours is a record of each)
  SELECT coalesce(device_id, '') AS k, count(*) AS bronze_records
  FROM checked
  WHERE elem IS NULL
  GROUP BY coalesce(device_id, '')
),
per_valid AS (
  -- the accepted readings of the hour, every copy: single lines and elements (a line of another
  -- hour filed here is a bronze record only; the elements of a batch in other hours count there)
  SELECT device_id AS k, count(*) AS valid_records
  FROM checked
  WHERE reason IS NULL AND event_ms >= {{param "start_ms"}} AND event_ms < {{param "end_ms"}}
  GROUP BY device_id
),
reasons AS (
  -- the rejections of the hour: a single line's where it is filed; a batched line's (rejected
  -- whole) and those of its elements in the hour of at_ms (lines.sql), so each counts once
  SELECT coalesce(device_id, '') AS k, reason, count(*) AS n
  FROM checked
  WHERE reason IS NOT NULL AND (at_ms IS NULL OR (at_ms >= {{param "start_ms"}} AND at_ms < {{param "end_ms"}}))
  GROUP BY coalesce(device_id, ''), reason
),
per_rejected AS (
  SELECT k, sum(n) AS rejected FROM reasons GROUP BY k
),
by_reason AS (
  -- a JSON object, reason to count, in reason order
  SELECT k, '{' || {{join_ordered "'\"' || reason || '\":' || CAST(n AS VARCHAR)" "reason"}} || '}' AS rejected_by_reason
  FROM reasons
  GROUP BY k
),
silver AS (
{{silver}}
),
per_reading AS (
  SELECT device_id AS k, count(*) AS valid_readings,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN temperature IS NULL THEN 1 END) / count(*), 6) AS temperature_null_pct,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN humidity IS NULL THEN 1 END) / count(*), 6) AS humidity_null_pct,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN light IS NULL THEN 1 END) / count(*), 6) AS light_null_pct,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN co2 IS NULL THEN 1 END) / count(*), 6) AS co2_null_pct,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN humidity_ratio IS NULL THEN 1 END) / count(*), 6) AS humidity_ratio_null_pct,
    round(CAST(100 AS DOUBLE) * count(CASE WHEN occupancy IS NULL THEN 1 END) / count(*), 6) AS occupancy_null_pct
  FROM silver
  GROUP BY device_id
),
late AS (
  -- readings whose first copy reached bronze more than an hour after their hour ended
  SELECT device_id AS k, count(*) AS late_arrivals
  FROM silver
  WHERE {{epoch_ms "ingested_at"}} > {{param "late_after_ms"}}
  GROUP BY device_id
),
settings AS (
  SELECT n AS expected_readings FROM {{integers 3600}} WHERE n = {{param "expected_readings"}}
),
rows_of AS (
  SELECT nullif(l.k, '') AS device_id,
    CAST(l.bronze_records AS BIGINT) AS bronze_records,
    CAST(coalesce(v.valid_records, 0) AS BIGINT) AS valid_records,
    CAST(coalesce(p.valid_readings, 0) AS BIGINT) AS valid_readings,
    CAST(coalesce(v.valid_records, 0) - coalesce(p.valid_readings, 0) AS BIGINT) AS duplicates,
    CAST(coalesce(j.rejected, 0) AS BIGINT) AS rejected,
    coalesce(b.rejected_by_reason, '{}') AS rejected_by_reason,
    p.temperature_null_pct, p.humidity_null_pct, p.light_null_pct, p.co2_null_pct, p.humidity_ratio_null_pct, p.occupancy_null_pct,
    CAST(coalesce(x.late_arrivals, 0) AS BIGINT) AS late_arrivals,
    CASE WHEN l.k <> '' THEN CAST(s.expected_readings AS BIGINT) END AS expected_readings,
    round(CAST(100 AS DOUBLE) * coalesce(v.valid_records, 0) / nullif(coalesce(v.valid_records, 0) + coalesce(j.rejected, 0), 0), 6) AS pass_rate_pct,
    round(CAST(100 AS DOUBLE) * sum(coalesce(v.valid_records, 0)) OVER () / nullif(sum(coalesce(v.valid_records, 0) + coalesce(j.rejected, 0)) OVER (), 0), 6) AS fleet_pass_rate_pct
  FROM per_line l
  CROSS JOIN settings s
  LEFT JOIN per_valid v ON v.k = l.k
  LEFT JOIN per_rejected j ON j.k = l.k
  LEFT JOIN by_reason b ON b.k = l.k
  LEFT JOIN per_reading p ON p.k = l.k
  LEFT JOIN late x ON x.k = l.k
)
SELECT {{hour_start}} AS hour_start, r.*
FROM rows_of r
ORDER BY r.device_id NULLS LAST
