-- silver delete
DELETE FROM iotwatch_lake.silver_readings WHERE event_time >= TIMESTAMP '2026-03-01 07:00:00' AND event_time < TIMESTAMP '2026-03-01 08:00:00'
-- parameters:

-- silver insert
INSERT INTO iotwatch_lake.silver_readings

WITH src AS (
  SELECT source_object, ingested_at, line_bytes, index_reason,
    coalesce(regexp_like(line, '^\s*\{') AND try(json_parse(line)) IS NOT NULL, false) AS is_object,
    json_format(json_extract(line, '$.device_id')) AS device_id_j,
    json_format(json_extract(line, '$.event_time')) AS event_time_j,
    json_format(json_extract(line, '$.msg_id')) AS msg_id_j,
    json_format(json_extract(line, '$.temperature')) AS temperature_j,
    json_format(json_extract(line, '$.humidity')) AS humidity_j,
    json_format(json_extract(line, '$.light')) AS light_j,
    json_format(json_extract(line, '$.co2')) AS co2_j,
    json_format(json_extract(line, '$.humidity_ratio')) AS humidity_ratio_j,
    json_format(json_extract(line, '$.occupancy')) AS occupancy_j,
    json_extract_scalar(line, '$.device_id') AS device_id_s,
    json_extract_scalar(line, '$.event_time') AS event_time_s,
    json_extract_scalar(line, '$.msg_id') AS msg_id_s,
    -- The JSON functions of Trino drop repeated names without a word, so the line is searched for a
    -- field of the contract, readings or a declared metric named at the start of a member ({ or ,
    -- before it: inside a string a quote is escaped) more often than the parsed line holds it: at
    -- the top level and in the elements of its readings (at least once: a nested object reusing
    -- such a name counts too). A name repeated in two spellings ("pm25", "pm\u0032\u0035") does
    -- not count, and a name twice in one element makes the whole line malformed_json (the decoder
    -- rejects that element alone): known gaps.
    (
      cardinality(regexp_extract_all(line, '[{,]\s*"device_id"\s*:')) > greatest(1, IF(json_extract(line, '$["device_id"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["device_id"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"event_time"\s*:')) > greatest(1, IF(json_extract(line, '$["event_time"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["event_time"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"msg_id"\s*:')) > greatest(1, IF(json_extract(line, '$["msg_id"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["msg_id"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"temperature"\s*:')) > greatest(1, IF(json_extract(line, '$["temperature"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["temperature"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity"\s*:')) > greatest(1, IF(json_extract(line, '$["humidity"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["humidity"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"light"\s*:')) > greatest(1, IF(json_extract(line, '$["light"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["light"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"co2"\s*:')) > greatest(1, IF(json_extract(line, '$["co2"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["co2"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity_ratio"\s*:')) > greatest(1, IF(json_extract(line, '$["humidity_ratio"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["humidity_ratio"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"occupancy"\s*:')) > greatest(1, IF(json_extract(line, '$["occupancy"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["occupancy"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"readings"\s*:')) > greatest(1, IF(json_extract(line, '$["readings"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["readings"]') IS NOT NULL)), 0))) AS repeated,
    -- the readings of a batched message (DESIGN.md, "Batched messages"): their JSON text, whether
    -- they are an array of 1 to 100 objects, the event_time of the first (where PartitionHour
    -- files the line); athena_elements.sql unnests elems
    json_format(json_extract(line, '$.readings')) AS readings_j,
    coalesce(json_array_length(json_extract(line, '$.readings')) BETWEEN 1 AND 100
      AND cardinality(filter(elems, e -> e IS NULL OR json_format(e) NOT LIKE '{%')) = 0, false) AS batch_ok,
    json_format(json_extract(line, '$.readings[0].event_time')) AS first_time_j,
    json_extract_scalar(line, '$.readings[0].event_time') AS first_time_s,
    line, elems
  FROM (
    -- bronze_lines reads each line as written, so its length is that of the message
    SELECT b.line, length(to_utf8(b.line)) AS line_bytes,
      -- NULL when readings is not an array
      try(CAST(json_extract(b.line, '$.readings') AS ARRAY(JSON))) AS elems,
      regexp_extract(b."$path", '(bronze/dt=[^/]+/hour=[^/]+/[^/]+)$', 1) AS source_object,
      coalesce(try(date_parse(regexp_extract(b."$path", '-([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^/]*$', 1), '%Y-%m-%d-%H-%i-%s')), CAST(from_unixtime(TRY_CAST(regexp_extract(b."$path", 'iotwatch-bronze-([0-9]{1,19})-[0-9]+\.json\.gz$', 1) AS BIGINT) / 1e9) AS TIMESTAMP)) AS ingested_at,
      r.reason AS index_reason
    FROM iotwatch_lake.bronze_lines b
    -- the lines the evaluation rejected for what the line alone cannot show, by the rejections index
    LEFT JOIN (
      SELECT line_md5, min(reason) AS reason
      FROM iotwatch_lake.rejections
      WHERE dt = ? AND hour = ? AND line_md5 IS NOT NULL
      GROUP BY line_md5) r ON r.line_md5 = lower(to_hex(md5(to_utf8(b.line))))
    WHERE b.dt = ? AND b.hour = ?
  ) l
),
lines AS (
  -- a top-level event_time, msg_id or metric of a batched line (the name present, even as null)
  -- makes it bad_batch
  SELECT src.*, readings_j IS NOT NULL AS batched,
    (event_time_j IS NOT NULL OR msg_id_j IS NOT NULL OR temperature_j IS NOT NULL OR humidity_j IS NOT NULL
      OR light_j IS NOT NULL OR co2_j IS NOT NULL OR humidity_ratio_j IS NOT NULL OR occupancy_j IS NOT NULL) AS beside
  FROM src
),
line_rows AS (
  -- the lines, then the elements of the batched ones: the fields of an element stand where those
  -- of a single line do, and its device is that of the line (the decoder validates
  -- {"device_id":<the top one>, <the fields of the element>})
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    CAST(NULL AS BIGINT) AS elem, false AS e_repeated, CAST(NULL AS VARCHAR) AS e_device_id_j,
    CAST(NULL AS VARCHAR) AS e_device_id_s, CAST(NULL AS VARCHAR) AS e_readings_j,
    event_time_j, event_time_s, msg_id_j, msg_id_s,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM lines
  UNION ALL
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    e_event_time_j, e_event_time_s, e_msg_id_j, e_msg_id_s,
    e_temperature_j, e_humidity_j, e_light_j, e_co2_j, e_humidity_ratio_j, e_occupancy_j
  FROM (
  SELECT l.*, CAST(u.i - 1 AS BIGINT) AS elem,
    json_format(json_extract(u.e, '$.device_id')) AS e_device_id_j,
    json_format(json_extract(u.e, '$.event_time')) AS e_event_time_j,
    json_format(json_extract(u.e, '$.msg_id')) AS e_msg_id_j,
    json_format(json_extract(u.e, '$.temperature')) AS e_temperature_j,
    json_format(json_extract(u.e, '$.humidity')) AS e_humidity_j,
    json_format(json_extract(u.e, '$.light')) AS e_light_j,
    json_format(json_extract(u.e, '$.co2')) AS e_co2_j,
    json_format(json_extract(u.e, '$.humidity_ratio')) AS e_humidity_ratio_j,
    json_format(json_extract(u.e, '$.occupancy')) AS e_occupancy_j,
    json_format(json_extract(u.e, '$.readings')) AS e_readings_j,
    json_extract_scalar(u.e, '$.device_id') AS e_device_id_s,
    json_extract_scalar(u.e, '$.event_time') AS e_event_time_s,
    json_extract_scalar(u.e, '$.msg_id') AS e_msg_id_s,
    false AS e_repeated
  FROM lines l
  CROSS JOIN UNNEST(l.elems) WITH ORDINALITY AS u(e, i)
  WHERE l.batch_ok
  ) e
),
parsed AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated,
    batched, beside, batch_ok, elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    device_id_j, event_time_j, msg_id_j,
    -- a string field is tested on its JSON text (a string starts with a quote) and taken from its
    -- value (escapes decoded); \z, not $: in the regexps of Java (Athena) $ also matches before a final
    -- line break
    CASE WHEN device_id_j LIKE '"%' AND regexp_like(device_id_s, '^[A-Za-z0-9:_-]{1,128}\z') THEN device_id_s END AS device_id,
    CASE WHEN event_time_j LIKE '"%' AND regexp_like(event_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z')
      THEN try(from_iso8601_timestamp(event_time_s)) END AS ts,
    CASE WHEN first_time_j LIKE '"%' AND regexp_like(first_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z')
      THEN try(from_iso8601_timestamp(first_time_s)) END AS first_ts,
    CASE WHEN msg_id_j IS NULL OR msg_id_j = 'null' THEN ''
      WHEN msg_id_j LIKE '"%' AND length(msg_id_s) <= 128 THEN msg_id_s END AS msg_id,
    TRY_CAST(temperature_j AS DOUBLE) AS temperature,
    TRY_CAST(humidity_j AS DOUBLE) AS humidity,
    TRY_CAST(light_j AS DOUBLE) AS light,
    TRY_CAST(co2_j AS DOUBLE) AS co2,
    TRY_CAST(humidity_ratio_j AS DOUBLE) AS humidity_ratio,
    TRY_CAST(occupancy_j AS DOUBLE) AS occupancy,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM line_rows
),
timed AS (
  SELECT parsed.*, CAST(floor(to_unixtime(ts) * 1000) AS BIGINT) AS event_ms, CAST(floor(to_unixtime(first_ts) * 1000) AS BIGINT) AS first_ms FROM parsed
),
judged AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem, batched, first_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
    -- an event time the decoder accepts (the future aside: the rejections index tells it)
    ts IS NOT NULL AND event_ms >= 946684800000 AND event_ms < 7258118400000 AS timed_ok,
    -- the line's rules (a batched line's elements are not checked when it breaks one)
    CASE
      WHEN index_reason IS NOT NULL THEN index_reason
      WHEN line_bytes > 16384 THEN 'too_large'
      -- a field name repeated at the top level makes the line malformed (engines disagree on which
      -- copy wins)
      WHEN NOT is_object OR repeated THEN 'malformed_json'
      WHEN device_id_j IS NULL OR device_id_j = 'null' THEN 'missing_device_id'
      WHEN device_id IS NULL THEN 'bad_device_id'
      WHEN batched AND (beside OR NOT batch_ok) THEN 'bad_batch'
    END AS whole,
    -- a reading's rules: a single line's, an element's; none for a batched line's own row
    CASE
      WHEN batched AND elem IS NULL THEN NULL
      -- a name twice in an element rejects that element alone
      WHEN e_repeated THEN 'malformed_json'
      -- an element's device_id, optional, must be a string equal to the line's
      WHEN e_device_id_j IS NOT NULL AND (e_device_id_j NOT LIKE '"%' OR e_device_id_s IS NULL OR e_device_id_s <> device_id) THEN 'device_mismatch'
      -- batches do not nest
      WHEN e_readings_j IS NOT NULL THEN 'bad_batch'
      WHEN event_time_j IS NULL OR event_time_j = 'null' THEN 'missing_event_time'
      -- an event time outside the range of the decoder is a device clock fault
      WHEN ts IS NULL OR event_ms < 946684800000 OR event_ms >= 7258118400000 THEN 'bad_event_time'
      WHEN msg_id IS NULL THEN 'bad_msg_id'
      WHEN temperature_j IS NULL AND humidity_j IS NULL AND light_j IS NULL
        AND co2_j IS NULL AND humidity_ratio_j IS NULL AND occupancy_j IS NULL THEN 'no_metrics'
      -- the engines re-serialize the JSON they extract, so the text of a metric is a JSON number, a
      -- quoted string, null, true, false, an object or an array: TRY_CAST to DOUBLE succeeds for
      -- numbers only (an overflowing one becomes infinite)
      WHEN (temperature_j IS NOT NULL AND temperature IS NULL) OR (humidity_j IS NOT NULL AND humidity IS NULL)
        OR (light_j IS NOT NULL AND light IS NULL) OR (co2_j IS NOT NULL AND co2 IS NULL)
        OR (humidity_ratio_j IS NOT NULL AND humidity_ratio IS NULL) OR (occupancy_j IS NOT NULL AND occupancy IS NULL)
        -- a number too large for a double is not a finite number
        OR abs(temperature) > 1.7976931348623157e308 OR abs(humidity) > 1.7976931348623157e308 OR abs(light) > 1.7976931348623157e308
        OR abs(co2) > 1.7976931348623157e308 OR abs(humidity_ratio) > 1.7976931348623157e308 OR abs(occupancy) > 1.7976931348623157e308 THEN 'bad_metric'
      WHEN NOT (temperature IS NULL OR temperature BETWEEN -50 AND 150) OR NOT (humidity IS NULL OR humidity BETWEEN 0 AND 100)
        OR NOT (light IS NULL OR light BETWEEN 0 AND 200000) OR NOT (co2 IS NULL OR co2 BETWEEN 0 AND 100000)
        OR NOT (humidity_ratio IS NULL OR humidity_ratio BETWEEN 0 AND 1) OR NOT (occupancy IS NULL OR occupancy IN (0, 1)) THEN 'out_of_range'
    END AS own
  FROM timed
),
checked AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
    coalesce(whole, own) AS reason,
    CASE WHEN batched THEN CASE WHEN elem IS NOT NULL AND timed_ok THEN event_ms ELSE first_ms END END AS at_ms
  FROM judged
  WHERE elem IS NULL OR whole IS NULL
)
,
identified AS (
  SELECT checked.*, CASE WHEN msg_id <> '' THEN 'm:' || msg_id ELSE 't:' || CAST(event_ms AS VARCHAR) END AS identity
  FROM checked
  WHERE reason IS NULL AND event_ms >= ? AND event_ms < ?
),
copies AS (
  -- the copies of each identity, numbered in a fixed order (source object, then values: NULLs last)
  SELECT identified.*,
    row_number() OVER (PARTITION BY device_id, identity
      ORDER BY source_object NULLS LAST, temperature NULLS LAST, humidity NULLS LAST, light NULLS LAST, co2 NULLS LAST,
        humidity_ratio NULLS LAST, occupancy NULLS LAST, event_ms) AS copy_no,
    count(*) OVER (PARTITION BY device_id, identity) AS copies,
    min(ingested_at) OVER (PARTITION BY device_id, identity) AS first_ingested_at
  FROM identified
),
readings AS (
  -- every column from the first copy; ingested_at is the earliest arrival of any copy
  SELECT device_id, event_ms, CASE WHEN msg_id <> '' THEN msg_id END AS msg_id,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
    copies, source_object, first_ingested_at AS ingested_at
  FROM copies
  WHERE copy_no = 1
),
raised AS (
  -- the rules of the alerts a reading raised: the alert_time of an alert is the event_time of its reading
  SELECT device_id, CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT) AS event_ms, array_join(array_sort(array_distinct(array_agg(rule))), ',') AS alert_rules
  FROM (SELECT alert_id, kind, severity, device_id, rule, alert_time FROM iotwatch_lake.alerts WHERE dt = ? AND hour = ?) a
  WHERE kind IN ('OPEN', 'ESCALATE', 'REMIND', 'RESOLVE') AND rule IS NOT NULL
  GROUP BY device_id, CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT)
)
SELECT r.device_id, CAST(from_unixtime(CAST(r.event_ms AS DOUBLE) / 1000) AS TIMESTAMP) AS event_time, r.msg_id,
  r.temperature, r.humidity, r.light, r.co2, r.humidity_ratio, r.occupancy,
  -- the metrics outside the usual range of a room (reading.UsualRanges), stateless
  nullif(concat_ws(',',
    CASE WHEN r.temperature < 16 OR r.temperature > 28 THEN 'temperature' END,
    CASE WHEN r.humidity < 20 OR r.humidity > 70 THEN 'humidity' END,
    CASE WHEN r.co2 < 0 OR r.co2 > 1500 THEN 'co2' END), '') AS out_of_range,
  x.alert_rules,
  CAST(r.copies AS BIGINT) AS copies, r.source_object, r.ingested_at,
  CAST(current_timestamp AS TIMESTAMP) AS processed_at, 'iotwatch-silver-3' AS pipeline_version,
  -- the declared metrics the reading carries, by name (NULL when none: as out_of_range and
  -- alert_rules are); a metric the catalog no longer declares is left out, bronze keeps it
  CAST(NULL AS MAP(VARCHAR, DOUBLE)) AS metrics
FROM readings r
LEFT JOIN raised x ON x.device_id = r.device_id AND x.event_ms = r.event_ms
ORDER BY r.device_id, r.event_ms
-- parameters: 1:dt='2026-03-01' 2:hour='07' 3:dt='2026-03-01' 4:hour='07' 5:start_ms=1772348400000 6:end_ms=1772352000000 7:dt='2026-03-01' 8:hour='07'

-- hourly delete
DELETE FROM iotwatch_lake.hourly_metrics WHERE hour_start = TIMESTAMP '2026-03-01 07:00:00'
-- parameters:

-- hourly insert
INSERT INTO iotwatch_lake.hourly_metrics

WITH readings AS (
  SELECT device_id, CAST(floor(to_unixtime(event_time) * 1000) AS BIGINT) AS event_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy
  FROM (SELECT * FROM iotwatch_lake.silver_readings WHERE event_time >= CAST(? AS TIMESTAMP) AND event_time < CAST(? AS TIMESTAMP)) s
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
  FROM (SELECT alert_id, kind, severity, device_id, rule, alert_time FROM iotwatch_lake.alerts WHERE dt = ? AND hour = ?) a
  WHERE kind IN ('OPEN', 'ESCALATE')
    AND CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT) >= ? AND CAST(floor(to_unixtime(try(from_iso8601_timestamp(alert_time))) * 1000) AS BIGINT) < ?
  GROUP BY device_id
),
settings AS (
  -- the configured readings per hour (3600 / the nominal interval) times the hours of the period,
  -- as a one-row relation
  SELECT n * 1 AS expected_readings FROM UNNEST(sequence(1, 3600)) AS t(n) WHERE n = ?
)
SELECT
  m.device_id,
  CAST(from_unixtime(CAST(m.hour_ms AS DOUBLE) / 1000) AS TIMESTAMP) AS hour_start,
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
-- parameters: 1:start_ts='2026-03-01 07:00:00' 2:end_ts='2026-03-01 08:00:00' 3:dt='2026-03-01' 4:hour='07' 5:start_ms=1772348400000 6:end_ms=1772352000000 7:expected_readings=60

-- dq_hourly delete
DELETE FROM iotwatch_lake.dq_hourly WHERE hour_start = TIMESTAMP '2026-03-01 07:00:00'
-- parameters:

-- dq_hourly insert
INSERT INTO iotwatch_lake.dq_hourly

WITH src AS (
  SELECT source_object, ingested_at, line_bytes, index_reason,
    coalesce(regexp_like(line, '^\s*\{') AND try(json_parse(line)) IS NOT NULL, false) AS is_object,
    json_format(json_extract(line, '$.device_id')) AS device_id_j,
    json_format(json_extract(line, '$.event_time')) AS event_time_j,
    json_format(json_extract(line, '$.msg_id')) AS msg_id_j,
    json_format(json_extract(line, '$.temperature')) AS temperature_j,
    json_format(json_extract(line, '$.humidity')) AS humidity_j,
    json_format(json_extract(line, '$.light')) AS light_j,
    json_format(json_extract(line, '$.co2')) AS co2_j,
    json_format(json_extract(line, '$.humidity_ratio')) AS humidity_ratio_j,
    json_format(json_extract(line, '$.occupancy')) AS occupancy_j,
    json_extract_scalar(line, '$.device_id') AS device_id_s,
    json_extract_scalar(line, '$.event_time') AS event_time_s,
    json_extract_scalar(line, '$.msg_id') AS msg_id_s,
    -- The JSON functions of Trino drop repeated names without a word, so the line is searched for a
    -- field of the contract, readings or a declared metric named at the start of a member ({ or ,
    -- before it: inside a string a quote is escaped) more often than the parsed line holds it: at
    -- the top level and in the elements of its readings (at least once: a nested object reusing
    -- such a name counts too). A name repeated in two spellings ("pm25", "pm\u0032\u0035") does
    -- not count, and a name twice in one element makes the whole line malformed_json (the decoder
    -- rejects that element alone): known gaps.
    (
      cardinality(regexp_extract_all(line, '[{,]\s*"device_id"\s*:')) > greatest(1, IF(json_extract(line, '$["device_id"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["device_id"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"event_time"\s*:')) > greatest(1, IF(json_extract(line, '$["event_time"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["event_time"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"msg_id"\s*:')) > greatest(1, IF(json_extract(line, '$["msg_id"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["msg_id"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"temperature"\s*:')) > greatest(1, IF(json_extract(line, '$["temperature"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["temperature"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity"\s*:')) > greatest(1, IF(json_extract(line, '$["humidity"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["humidity"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"light"\s*:')) > greatest(1, IF(json_extract(line, '$["light"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["light"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"co2"\s*:')) > greatest(1, IF(json_extract(line, '$["co2"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["co2"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity_ratio"\s*:')) > greatest(1, IF(json_extract(line, '$["humidity_ratio"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["humidity_ratio"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"occupancy"\s*:')) > greatest(1, IF(json_extract(line, '$["occupancy"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["occupancy"]') IS NOT NULL)), 0)) OR
      cardinality(regexp_extract_all(line, '[{,]\s*"readings"\s*:')) > greatest(1, IF(json_extract(line, '$["readings"]') IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, '$["readings"]') IS NOT NULL)), 0))) AS repeated,
    -- the readings of a batched message (DESIGN.md, "Batched messages"): their JSON text, whether
    -- they are an array of 1 to 100 objects, the event_time of the first (where PartitionHour
    -- files the line); athena_elements.sql unnests elems
    json_format(json_extract(line, '$.readings')) AS readings_j,
    coalesce(json_array_length(json_extract(line, '$.readings')) BETWEEN 1 AND 100
      AND cardinality(filter(elems, e -> e IS NULL OR json_format(e) NOT LIKE '{%')) = 0, false) AS batch_ok,
    json_format(json_extract(line, '$.readings[0].event_time')) AS first_time_j,
    json_extract_scalar(line, '$.readings[0].event_time') AS first_time_s,
    line, elems
  FROM (
    -- bronze_lines reads each line as written, so its length is that of the message
    SELECT b.line, length(to_utf8(b.line)) AS line_bytes,
      -- NULL when readings is not an array
      try(CAST(json_extract(b.line, '$.readings') AS ARRAY(JSON))) AS elems,
      regexp_extract(b."$path", '(bronze/dt=[^/]+/hour=[^/]+/[^/]+)$', 1) AS source_object,
      coalesce(try(date_parse(regexp_extract(b."$path", '-([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^/]*$', 1), '%Y-%m-%d-%H-%i-%s')), CAST(from_unixtime(TRY_CAST(regexp_extract(b."$path", 'iotwatch-bronze-([0-9]{1,19})-[0-9]+\.json\.gz$', 1) AS BIGINT) / 1e9) AS TIMESTAMP)) AS ingested_at,
      r.reason AS index_reason
    FROM iotwatch_lake.bronze_lines b
    -- the lines the evaluation rejected for what the line alone cannot show, by the rejections index
    LEFT JOIN (
      SELECT line_md5, min(reason) AS reason
      FROM iotwatch_lake.rejections
      WHERE dt = ? AND hour = ? AND line_md5 IS NOT NULL
      GROUP BY line_md5) r ON r.line_md5 = lower(to_hex(md5(to_utf8(b.line))))
    WHERE b.dt = ? AND b.hour = ?
  ) l
),
lines AS (
  -- a top-level event_time, msg_id or metric of a batched line (the name present, even as null)
  -- makes it bad_batch
  SELECT src.*, readings_j IS NOT NULL AS batched,
    (event_time_j IS NOT NULL OR msg_id_j IS NOT NULL OR temperature_j IS NOT NULL OR humidity_j IS NOT NULL
      OR light_j IS NOT NULL OR co2_j IS NOT NULL OR humidity_ratio_j IS NOT NULL OR occupancy_j IS NOT NULL) AS beside
  FROM src
),
line_rows AS (
  -- the lines, then the elements of the batched ones: the fields of an element stand where those
  -- of a single line do, and its device is that of the line (the decoder validates
  -- {"device_id":<the top one>, <the fields of the element>})
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    CAST(NULL AS BIGINT) AS elem, false AS e_repeated, CAST(NULL AS VARCHAR) AS e_device_id_j,
    CAST(NULL AS VARCHAR) AS e_device_id_s, CAST(NULL AS VARCHAR) AS e_readings_j,
    event_time_j, event_time_s, msg_id_j, msg_id_s,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM lines
  UNION ALL
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    e_event_time_j, e_event_time_s, e_msg_id_j, e_msg_id_s,
    e_temperature_j, e_humidity_j, e_light_j, e_co2_j, e_humidity_ratio_j, e_occupancy_j
  FROM (
  SELECT l.*, CAST(u.i - 1 AS BIGINT) AS elem,
    json_format(json_extract(u.e, '$.device_id')) AS e_device_id_j,
    json_format(json_extract(u.e, '$.event_time')) AS e_event_time_j,
    json_format(json_extract(u.e, '$.msg_id')) AS e_msg_id_j,
    json_format(json_extract(u.e, '$.temperature')) AS e_temperature_j,
    json_format(json_extract(u.e, '$.humidity')) AS e_humidity_j,
    json_format(json_extract(u.e, '$.light')) AS e_light_j,
    json_format(json_extract(u.e, '$.co2')) AS e_co2_j,
    json_format(json_extract(u.e, '$.humidity_ratio')) AS e_humidity_ratio_j,
    json_format(json_extract(u.e, '$.occupancy')) AS e_occupancy_j,
    json_format(json_extract(u.e, '$.readings')) AS e_readings_j,
    json_extract_scalar(u.e, '$.device_id') AS e_device_id_s,
    json_extract_scalar(u.e, '$.event_time') AS e_event_time_s,
    json_extract_scalar(u.e, '$.msg_id') AS e_msg_id_s,
    false AS e_repeated
  FROM lines l
  CROSS JOIN UNNEST(l.elems) WITH ORDINALITY AS u(e, i)
  WHERE l.batch_ok
  ) e
),
parsed AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated,
    batched, beside, batch_ok, elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    device_id_j, event_time_j, msg_id_j,
    -- a string field is tested on its JSON text (a string starts with a quote) and taken from its
    -- value (escapes decoded); \z, not $: in the regexps of Java (Athena) $ also matches before a final
    -- line break
    CASE WHEN device_id_j LIKE '"%' AND regexp_like(device_id_s, '^[A-Za-z0-9:_-]{1,128}\z') THEN device_id_s END AS device_id,
    CASE WHEN event_time_j LIKE '"%' AND regexp_like(event_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z')
      THEN try(from_iso8601_timestamp(event_time_s)) END AS ts,
    CASE WHEN first_time_j LIKE '"%' AND regexp_like(first_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z')
      THEN try(from_iso8601_timestamp(first_time_s)) END AS first_ts,
    CASE WHEN msg_id_j IS NULL OR msg_id_j = 'null' THEN ''
      WHEN msg_id_j LIKE '"%' AND length(msg_id_s) <= 128 THEN msg_id_s END AS msg_id,
    TRY_CAST(temperature_j AS DOUBLE) AS temperature,
    TRY_CAST(humidity_j AS DOUBLE) AS humidity,
    TRY_CAST(light_j AS DOUBLE) AS light,
    TRY_CAST(co2_j AS DOUBLE) AS co2,
    TRY_CAST(humidity_ratio_j AS DOUBLE) AS humidity_ratio,
    TRY_CAST(occupancy_j AS DOUBLE) AS occupancy,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM line_rows
),
timed AS (
  SELECT parsed.*, CAST(floor(to_unixtime(ts) * 1000) AS BIGINT) AS event_ms, CAST(floor(to_unixtime(first_ts) * 1000) AS BIGINT) AS first_ms FROM parsed
),
judged AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem, batched, first_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
    -- an event time the decoder accepts (the future aside: the rejections index tells it)
    ts IS NOT NULL AND event_ms >= 946684800000 AND event_ms < 7258118400000 AS timed_ok,
    -- the line's rules (a batched line's elements are not checked when it breaks one)
    CASE
      WHEN index_reason IS NOT NULL THEN index_reason
      WHEN line_bytes > 16384 THEN 'too_large'
      -- a field name repeated at the top level makes the line malformed (engines disagree on which
      -- copy wins)
      WHEN NOT is_object OR repeated THEN 'malformed_json'
      WHEN device_id_j IS NULL OR device_id_j = 'null' THEN 'missing_device_id'
      WHEN device_id IS NULL THEN 'bad_device_id'
      WHEN batched AND (beside OR NOT batch_ok) THEN 'bad_batch'
    END AS whole,
    -- a reading's rules: a single line's, an element's; none for a batched line's own row
    CASE
      WHEN batched AND elem IS NULL THEN NULL
      -- a name twice in an element rejects that element alone
      WHEN e_repeated THEN 'malformed_json'
      -- an element's device_id, optional, must be a string equal to the line's
      WHEN e_device_id_j IS NOT NULL AND (e_device_id_j NOT LIKE '"%' OR e_device_id_s IS NULL OR e_device_id_s <> device_id) THEN 'device_mismatch'
      -- batches do not nest
      WHEN e_readings_j IS NOT NULL THEN 'bad_batch'
      WHEN event_time_j IS NULL OR event_time_j = 'null' THEN 'missing_event_time'
      -- an event time outside the range of the decoder is a device clock fault
      WHEN ts IS NULL OR event_ms < 946684800000 OR event_ms >= 7258118400000 THEN 'bad_event_time'
      WHEN msg_id IS NULL THEN 'bad_msg_id'
      WHEN temperature_j IS NULL AND humidity_j IS NULL AND light_j IS NULL
        AND co2_j IS NULL AND humidity_ratio_j IS NULL AND occupancy_j IS NULL THEN 'no_metrics'
      -- the engines re-serialize the JSON they extract, so the text of a metric is a JSON number, a
      -- quoted string, null, true, false, an object or an array: TRY_CAST to DOUBLE succeeds for
      -- numbers only (an overflowing one becomes infinite)
      WHEN (temperature_j IS NOT NULL AND temperature IS NULL) OR (humidity_j IS NOT NULL AND humidity IS NULL)
        OR (light_j IS NOT NULL AND light IS NULL) OR (co2_j IS NOT NULL AND co2 IS NULL)
        OR (humidity_ratio_j IS NOT NULL AND humidity_ratio IS NULL) OR (occupancy_j IS NOT NULL AND occupancy IS NULL)
        -- a number too large for a double is not a finite number
        OR abs(temperature) > 1.7976931348623157e308 OR abs(humidity) > 1.7976931348623157e308 OR abs(light) > 1.7976931348623157e308
        OR abs(co2) > 1.7976931348623157e308 OR abs(humidity_ratio) > 1.7976931348623157e308 OR abs(occupancy) > 1.7976931348623157e308 THEN 'bad_metric'
      WHEN NOT (temperature IS NULL OR temperature BETWEEN -50 AND 150) OR NOT (humidity IS NULL OR humidity BETWEEN 0 AND 100)
        OR NOT (light IS NULL OR light BETWEEN 0 AND 200000) OR NOT (co2 IS NULL OR co2 BETWEEN 0 AND 100000)
        OR NOT (humidity_ratio IS NULL OR humidity_ratio BETWEEN 0 AND 1) OR NOT (occupancy IS NULL OR occupancy IN (0, 1)) THEN 'out_of_range'
    END AS own
  FROM timed
),
checked AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
    coalesce(whole, own) AS reason,
    CASE WHEN batched THEN CASE WHEN elem IS NOT NULL AND timed_ok THEN event_ms ELSE first_ms END END AS at_ms
  FROM judged
  WHERE elem IS NULL OR whole IS NULL
)
,
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
  WHERE reason IS NULL AND event_ms >= ? AND event_ms < ?
  GROUP BY device_id
),
reasons AS (
  -- the rejections of the hour: a single line's where it is filed; a batched line's (rejected
  -- whole) and those of its elements in the hour of at_ms (lines.sql), so each counts once
  SELECT coalesce(device_id, '') AS k, reason, count(*) AS n
  FROM checked
  WHERE reason IS NOT NULL AND (at_ms IS NULL OR (at_ms >= ? AND at_ms < ?))
  GROUP BY coalesce(device_id, ''), reason
),
per_rejected AS (
  SELECT k, sum(n) AS rejected FROM reasons GROUP BY k
),
by_reason AS (
  -- a JSON object, reason to count, in reason order
  SELECT k, '{' || array_join(array_agg('"' || reason || '":' || CAST(n AS VARCHAR) ORDER BY reason), ',') || '}' AS rejected_by_reason
  FROM reasons
  GROUP BY k
),
silver AS (
SELECT * FROM iotwatch_lake.silver_readings WHERE event_time >= CAST(? AS TIMESTAMP) AND event_time < CAST(? AS TIMESTAMP)
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
  WHERE CAST(floor(to_unixtime(ingested_at) * 1000) AS BIGINT) > ?
  GROUP BY device_id
),
settings AS (
  SELECT n AS expected_readings FROM UNNEST(sequence(1, 3600)) AS t(n) WHERE n = ?
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
SELECT TIMESTAMP '2026-03-01 07:00:00' AS hour_start, r.*
FROM rows_of r
ORDER BY r.device_id NULLS LAST
-- parameters: 1:dt='2026-03-01' 2:hour='07' 3:dt='2026-03-01' 4:hour='07' 5:start_ms=1772348400000 6:end_ms=1772352000000 7:start_ms=1772348400000 8:end_ms=1772352000000 9:start_ts='2026-03-01 07:00:00' 10:end_ts='2026-03-01 08:00:00' 11:late_after_ms=1772355600000 12:expected_readings=60

-- location_hourly delete
DELETE FROM iotwatch_lake.location_hourly WHERE hour_start = TIMESTAMP '2026-03-01 07:00:00'
-- parameters:

-- location_hourly insert
INSERT INTO iotwatch_lake.location_hourly

WITH devices AS (
  -- one row a device (a snapshot listing one twice counts it once)
  SELECT device_id, CASE WHEN max(location) IS NULL OR trim(max(location)) = '' THEN 'unknown' ELSE max(location) END AS location
  FROM (SELECT device_id, location FROM iotwatch_lake.devices) d
  GROUP BY device_id
),
located AS (
  SELECT coalesce(d.location, 'unknown') AS location, s.device_id, s.temperature, s.co2
  FROM (SELECT * FROM iotwatch_lake.silver_readings WHERE event_time >= CAST(? AS TIMESTAMP) AND event_time < CAST(? AS TIMESTAMP)) s
  LEFT JOIN devices d ON d.device_id = s.device_id
),
known AS (
  SELECT location, count(*) AS devices_known FROM devices GROUP BY location
),
settings AS (
  SELECT n AS expected_readings FROM UNNEST(sequence(1, 3600)) AS t(n) WHERE n = ?
),
per_location AS (
  SELECT location, count(DISTINCT device_id) AS devices_reporting, count(*) AS readings,
    round(avg(temperature), 6) AS temperature_avg, round(avg(co2), 6) AS co2_avg
  FROM located
  GROUP BY location
)
SELECT p.location, TIMESTAMP '2026-03-01 07:00:00' AS hour_start,
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
-- parameters: 1:start_ts='2026-03-01 07:00:00' 2:end_ts='2026-03-01 08:00:00' 3:expected_readings=60

-- hourly_metric_values delete
DELETE FROM iotwatch_lake.hourly_metric_values WHERE hour_start = TIMESTAMP '2026-03-01 07:00:00'
-- parameters:

-- hourly_metric_values insert
INSERT INTO iotwatch_lake.hourly_metric_values

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
    min(event_ms) - min(event_ms) % 3600000 AS period_ms,
    count(*) AS readings,
    min(value) AS value_min,
    round(avg(value), 6) AS value_avg,
    max(value) AS value_max,
    approx_percentile(value, 0.95) AS value_p95
  FROM metric_values
  WHERE value IS NOT NULL
  GROUP BY device_id, metric
)
SELECT device_id, CAST(from_unixtime(CAST(period_ms AS DOUBLE) / 1000) AS TIMESTAMP) AS hour_start, metric, CAST(readings AS BIGINT) AS readings,
  value_min, value_avg, value_max, value_p95
FROM per_metric
ORDER BY device_id, metric
-- parameters: 1:start_ts='2026-03-01 07:00:00' 2:end_ts='2026-03-01 08:00:00'

