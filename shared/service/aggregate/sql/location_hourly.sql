{{/*
  location_hourly of one UTC hour (DESIGN.md, "Silver and daily gold"), the same text for Athena and
  DuckDB: the hour's silver readings by the location of their device (device metadata; 'unknown'
  when it has none). health_pct is readings against what every device known at the location should
  have sent (a reporting device that is not known counts as known).
*/}}
WITH devices AS (
  -- one row a device (a snapshot listing one twice counts it once)
  SELECT device_id, CASE WHEN max(location) IS NULL OR trim(max(location)) = '' THEN 'unknown' ELSE max(location) END AS location
  FROM ({{devices}}) d
  GROUP BY device_id
),
located AS (
  SELECT coalesce(d.location, 'unknown') AS location, s.device_id, s.temperature, s.co2
  FROM ({{silver}}) s
  LEFT JOIN devices d ON d.device_id = s.device_id
),
known AS (
  SELECT location, count(*) AS devices_known FROM devices GROUP BY location
),
settings AS (
  SELECT n AS expected_readings FROM {{integers 3600}} WHERE n = {{param "expected_readings"}}
),
per_location AS (
  SELECT location, count(DISTINCT device_id) AS devices_reporting, count(*) AS readings,
    round(avg(temperature), 6) AS temperature_avg, round(avg(co2), 6) AS co2_avg
  FROM located
  GROUP BY location
)
SELECT p.location, {{hour_start}} AS hour_start,
  CAST(greatest(coalesce(k.devices_known, 0), p.devices_reporting) AS BIGINT) AS devices_known,
  CAST(p.devices_reporting AS BIGINT) AS devices_reporting,
  CAST(p.readings AS BIGINT) AS readings,
  p.temperature_avg, p.co2_avg,
  CAST(s.expected_readings AS BIGINT) AS expected_readings,
  -- health: aggregate.Health (health.go), rounded
  round(least(CAST(100 AS DOUBLE), CAST(100 AS DOUBLE) * p.readings / (s.expected_readings * greatest(coalesce(k.devices_known, 0), p.devices_reporting))), 6) AS health_pct
FROM per_location p
CROSS JOIN settings s
LEFT JOIN known k ON k.location = p.location
ORDER BY p.location
