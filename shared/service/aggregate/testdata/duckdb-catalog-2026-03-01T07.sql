-- silver
COPY (

WITH src AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object,
    CAST(j[1] AS VARCHAR) AS device_id_j,
    CAST(j[2] AS VARCHAR) AS event_time_j,
    CAST(j[3] AS VARCHAR) AS msg_id_j,
    CAST(j[4] AS VARCHAR) AS temperature_j,
    CAST(j[5] AS VARCHAR) AS humidity_j,
    CAST(j[6] AS VARCHAR) AS light_j,
    CAST(j[7] AS VARCHAR) AS co2_j,
    CAST(j[8] AS VARCHAR) AS humidity_ratio_j,
    CAST(j[9] AS VARCHAR) AS occupancy_j,
    CAST(j[10] AS VARCHAR) AS declared_1_j,
    CAST(j[11] AS VARCHAR) AS declared_2_j,
    CAST(j[12] AS VARCHAR) AS declared_3_j,
    -- the string values, from the extracted fragments (a small parse each, not of the line)
    json_extract_string(j[1], '$') AS device_id_s, json_extract_string(j[2], '$') AS event_time_s, json_extract_string(j[3], '$') AS msg_id_s,
    -- json_keys lists the top-level names as written (escapes decoded), repeats included
    coalesce(len(keys) <> len(list_distinct(keys)), false) AS repeated,
    -- the readings of a batched message (DESIGN.md, "Batched messages"): their JSON text, whether
    -- they are an array of 1 to 100 objects, the event_time of the first (where PartitionHour
    -- files the line), and the elements (duckdb_elements.sql unnests them)
    CAST(readings AS VARCHAR) AS readings_j,
    coalesce(json_type(readings) = 'ARRAY' AND json_array_length(readings) BETWEEN 1 AND 100
      AND len(list_filter(json_type(readings, '$[*]'), lambda t: t IS DISTINCT FROM 'OBJECT')) = 0, false) AS batch_ok,
    CAST(json_extract(readings, '$[0].event_time') AS VARCHAR) AS first_time_j,
    json_extract_string(readings, '$[0].event_time') AS first_time_s,
    CASE WHEN json_type(readings) = 'ARRAY' THEN json_extract(readings, '$[*]') END AS elems
  FROM (
    -- each line as written (CSV reading with no delimiter, quote or escape that JSON text can hold
    -- unescaped), so that its length is that of the message
    SELECT strlen(b.line) AS line_bytes,
      regexp_extract(b.filename, '(bronze/dt=[^/]+/hour=[^/]+/[^/]+)$', 1) AS source_object,
      coalesce(try_strptime(nullif(regexp_extract(b.filename, '-([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^/]*$', 1), ''), '%Y-%m-%d-%H-%M-%S'), make_timestamp(TRY_CAST(nullif(regexp_extract(b.filename, 'iotwatch-bronze-([0-9]{1,19})-[0-9]+\.json\.gz$', 1), '') AS BIGINT) // 1000)) AS ingested_at,
      -- valid JSON that starts with a brace is an object
      coalesce(json_valid(b.line) AND ltrim(b.line, E' \t\n\r')[1] = '{', false) AS is_object,
      CASE WHEN json_valid(b.line) THEN json_extract(b.line, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
        '$.light', '$.co2', '$.humidity_ratio', '$.occupancy', '$."pm25"', '$."power_w"', '$."reason"']) END AS j,
      CASE WHEN json_valid(b.line) THEN json_keys(b.line) END AS keys,
      CASE WHEN json_valid(b.line) THEN json_extract(b.line, '$.readings') END AS readings,
      CAST(NULL AS VARCHAR) AS index_reason
    FROM read_csv(['/lake/bronze/dt=2026-03-01/hour=07/a.json.gz'], columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '',
      auto_detect = false, compression = 'gzip', max_line_size = 2097152, strict_mode = false, ignore_errors = true, filename = true) b
    WHERE b.line IS NOT NULL
  )
),
lines AS (
  -- a top-level event_time, msg_id or metric of a batched line (the name present, even as null)
  -- makes it bad_batch
  SELECT src.*, readings_j IS NOT NULL AS batched,
    (event_time_j IS NOT NULL OR msg_id_j IS NOT NULL OR temperature_j IS NOT NULL OR humidity_j IS NOT NULL
      OR light_j IS NOT NULL OR co2_j IS NOT NULL OR humidity_ratio_j IS NOT NULL OR occupancy_j IS NOT NULL OR declared_1_j IS NOT NULL OR declared_2_j IS NOT NULL OR declared_3_j IS NOT NULL) AS beside
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
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j, declared_1_j, declared_2_j, declared_3_j
  FROM lines
  UNION ALL
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    e_event_time_j, e_event_time_s, e_msg_id_j, e_msg_id_s,
    e_temperature_j, e_humidity_j, e_light_j, e_co2_j, e_humidity_ratio_j, e_occupancy_j, e_declared_1_j, e_declared_2_j, e_declared_3_j
  FROM (
  SELECT v.*,
    CAST(v.ej[1] AS VARCHAR) AS e_device_id_j,
    CAST(v.ej[2] AS VARCHAR) AS e_event_time_j,
    CAST(v.ej[3] AS VARCHAR) AS e_msg_id_j,
    CAST(v.ej[4] AS VARCHAR) AS e_temperature_j,
    CAST(v.ej[5] AS VARCHAR) AS e_humidity_j,
    CAST(v.ej[6] AS VARCHAR) AS e_light_j,
    CAST(v.ej[7] AS VARCHAR) AS e_co2_j,
    CAST(v.ej[8] AS VARCHAR) AS e_humidity_ratio_j,
    CAST(v.ej[9] AS VARCHAR) AS e_occupancy_j,
    CAST(v.ej[10] AS VARCHAR) AS e_declared_1_j,
    CAST(v.ej[11] AS VARCHAR) AS e_declared_2_j,
    CAST(v.ej[12] AS VARCHAR) AS e_declared_3_j,
    CAST(v.readings_in AS VARCHAR) AS e_readings_j,
    json_extract_string(v.ej[1], '$') AS e_device_id_s, json_extract_string(v.ej[2], '$') AS e_event_time_s, json_extract_string(v.ej[3], '$') AS e_msg_id_s,
    coalesce(len(v.ekeys) <> len(list_distinct(v.ekeys)), false) AS e_repeated
  FROM (
    SELECT u.*, json_extract(u.e, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
        '$.light', '$.co2', '$.humidity_ratio', '$.occupancy', '$."pm25"', '$."power_w"', '$."reason"']) AS ej,
      json_extract(u.e, '$.readings') AS readings_in, json_keys(u.e) AS ekeys
    FROM (
      SELECT l.*, unnest(l.elems) AS e, generate_subscripts(l.elems, 1) - 1 AS elem
      FROM lines l
      WHERE l.batch_ok
    ) u
  ) v
  ) e
),
parsed AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated,
    batched, beside, batch_ok, elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    device_id_j, event_time_j, msg_id_j,
    -- a string field is tested on its JSON text (a string starts with a quote) and taken from its
    -- value (escapes decoded); \z, not $: in the regexps of Java (Athena) $ also matches before a final
    -- line break
    CASE WHEN device_id_j LIKE '"%' AND coalesce(regexp_matches(device_id_s, '^[A-Za-z0-9:_-]{1,128}\z'), false) THEN device_id_s END AS device_id,
    CASE WHEN event_time_j LIKE '"%' AND coalesce(regexp_matches(event_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z'), false)
      THEN TRY_CAST(event_time_s AS TIMESTAMPTZ) END AS ts,
    CASE WHEN first_time_j LIKE '"%' AND coalesce(regexp_matches(first_time_s, '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z'), false)
      THEN TRY_CAST(first_time_s AS TIMESTAMPTZ) END AS first_ts,
    CASE WHEN msg_id_j IS NULL OR msg_id_j = 'null' THEN ''
      WHEN msg_id_j LIKE '"%' AND length(msg_id_s) <= 128 THEN msg_id_s END AS msg_id,
    TRY_CAST(temperature_j AS DOUBLE) AS temperature,
    TRY_CAST(humidity_j AS DOUBLE) AS humidity,
    TRY_CAST(light_j AS DOUBLE) AS light,
    TRY_CAST(co2_j AS DOUBLE) AS co2,
    TRY_CAST(humidity_ratio_j AS DOUBLE) AS humidity_ratio,
    TRY_CAST(occupancy_j AS DOUBLE) AS occupancy,
    TRY_CAST(declared_1_j AS DOUBLE) AS declared_1, declared_1_j,
    TRY_CAST(declared_2_j AS DOUBLE) AS declared_2, declared_2_j,
    TRY_CAST(declared_3_j AS DOUBLE) AS declared_3, declared_3_j,
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM line_rows
),
timed AS (
  SELECT parsed.*, epoch_ms(ts) AS event_ms, epoch_ms(first_ts) AS first_ms FROM parsed
),
judged AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem, batched, first_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy, declared_1, declared_2, declared_3,
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
        AND co2_j IS NULL AND humidity_ratio_j IS NULL AND occupancy_j IS NULL AND declared_1_j IS NULL AND declared_2_j IS NULL AND declared_3_j IS NULL THEN 'no_metrics'
      -- the engines re-serialize the JSON they extract, so the text of a metric is a JSON number, a
      -- quoted string, null, true, false, an object or an array: TRY_CAST to DOUBLE succeeds for
      -- numbers only (an overflowing one becomes infinite)
      WHEN (temperature_j IS NOT NULL AND temperature IS NULL) OR (humidity_j IS NOT NULL AND humidity IS NULL)
        OR (light_j IS NOT NULL AND light IS NULL) OR (co2_j IS NOT NULL AND co2 IS NULL)
        OR (humidity_ratio_j IS NOT NULL AND humidity_ratio IS NULL) OR (occupancy_j IS NOT NULL AND occupancy IS NULL)
        -- a number too large for a double is not a finite number
        OR abs(temperature) > 1.7976931348623157e308 OR abs(humidity) > 1.7976931348623157e308 OR abs(light) > 1.7976931348623157e308
        OR abs(co2) > 1.7976931348623157e308 OR abs(humidity_ratio) > 1.7976931348623157e308 OR abs(occupancy) > 1.7976931348623157e308
        OR (declared_1_j IS NOT NULL AND declared_1 IS NULL) OR abs(declared_1) > 1.7976931348623157e308
        OR (declared_2_j IS NOT NULL AND declared_2 IS NULL) OR abs(declared_2) > 1.7976931348623157e308
        OR (declared_3_j IS NOT NULL AND declared_3 IS NULL) OR abs(declared_3) > 1.7976931348623157e308 THEN 'bad_metric'
      WHEN NOT (temperature IS NULL OR temperature BETWEEN -50 AND 150) OR NOT (humidity IS NULL OR humidity BETWEEN 0 AND 100)
        OR NOT (light IS NULL OR light BETWEEN 0 AND 200000) OR NOT (co2 IS NULL OR co2 BETWEEN 0 AND 100000)
        OR NOT (humidity_ratio IS NULL OR humidity_ratio BETWEEN 0 AND 1) OR NOT (occupancy IS NULL OR occupancy IN (0, 1))
        OR NOT (declared_1 IS NULL OR declared_1 BETWEEN 0E+00 AND 1E+03)
        OR NOT (declared_2 IS NULL OR declared_2 BETWEEN -5E-01 AND 1E+05)
        OR NOT (declared_3 IS NULL OR declared_3 BETWEEN 1E-01 AND 1E+21) THEN 'out_of_range'
    END AS own
  FROM timed
),
checked AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem,
    temperature, humidity, light, co2, humidity_ratio, occupancy, declared_1, declared_2, declared_3,
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
        humidity_ratio NULLS LAST, occupancy NULLS LAST, declared_1 NULLS LAST, declared_2 NULLS LAST, declared_3 NULLS LAST, event_ms) AS copy_no,
    count(*) OVER (PARTITION BY device_id, identity) AS copies,
    min(ingested_at) OVER (PARTITION BY device_id, identity) AS first_ingested_at
  FROM identified
),
readings AS (
  -- every column from the first copy; ingested_at is the earliest arrival of any copy
  SELECT device_id, event_ms, CASE WHEN msg_id <> '' THEN msg_id END AS msg_id,
    temperature, humidity, light, co2, humidity_ratio, occupancy, declared_1, declared_2, declared_3,
    copies, source_object, first_ingested_at AS ingested_at
  FROM copies
  WHERE copy_no = 1
),
raised AS (
  -- the rules of the alerts a reading raised: the alert_time of an alert is the event_time of its reading
  SELECT device_id, epoch_ms(TRY_CAST(alert_time AS TIMESTAMPTZ)) AS event_ms, string_agg(DISTINCT rule, ',' ORDER BY rule) AS alert_rules
  FROM (SELECT CAST(NULL AS VARCHAR) AS alert_id, CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS VARCHAR) AS severity,
  CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS alert_time WHERE false) a
  WHERE kind IN ('OPEN', 'ESCALATE', 'REMIND', 'RESOLVE') AND rule IS NOT NULL
  GROUP BY device_id, epoch_ms(TRY_CAST(alert_time AS TIMESTAMPTZ))
)
SELECT r.device_id, make_timestamp(r.event_ms * 1000) AS event_time, r.msg_id,
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
  CASE WHEN r.declared_1 IS NULL AND r.declared_2 IS NULL AND r.declared_3 IS NULL THEN NULL ELSE CAST(map_from_entries(list_filter([{'key': 'pm25', 'value': r.declared_1}, {'key': 'power_w', 'value': r.declared_2}, {'key': 'reason', 'value': r.declared_3}], lambda e: e.value IS NOT NULL)) AS MAP(VARCHAR, DOUBLE)) END AS metrics
FROM readings r
LEFT JOIN raised x ON x.device_id = r.device_id AND x.event_ms = r.event_ms
ORDER BY r.device_id, r.event_ms
) TO '/lake/silver.parquet.tmp' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)
-- parameters: 1:start_ms=1772348400000 2:end_ms=1772352000000

-- hourly_metric_values
COPY (

WITH readings AS (
  SELECT device_id, epoch_ms(event_time) AS event_ms, metrics
  FROM (SELECT * FROM read_parquet(['/lake/silver/readings/dt=2026-03-01/hour=07.parquet'], union_by_name = true)) s
),
declared_metrics AS (
  -- the declared metrics, one row each (none: a row of NULL, which no value matches)
  SELECT metric FROM (VALUES ('pm25'), ('power_w'), ('reason')) AS c(metric)
),
metric_values AS (
  SELECT r.device_id, r.event_ms, c.metric, r.metrics[c.metric] AS value
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
    quantile_cont(value, 0.95) AS value_p95
  FROM metric_values
  WHERE value IS NOT NULL
  GROUP BY device_id, metric
)
SELECT device_id, make_timestamp(period_ms * 1000) AS hour_start, metric, CAST(readings AS BIGINT) AS readings,
  value_min, value_avg, value_max, value_p95
FROM per_metric
ORDER BY device_id, metric
) TO '/lake/hourly_metric_values.parquet.tmp' (FORMAT parquet, COMPRESSION zstd)
-- parameters:

-- daily_metric_values
COPY (

WITH readings AS (
  SELECT device_id, epoch_ms(event_time) AS event_ms, metrics
  FROM (SELECT * FROM read_parquet(['/lake/silver/readings/dt=2026-03-01/hour=07.parquet'], union_by_name = true)) s
),
declared_metrics AS (
  -- the declared metrics, one row each (none: a row of NULL, which no value matches)
  SELECT metric FROM (VALUES ('pm25'), ('power_w'), ('reason')) AS c(metric)
),
metric_values AS (
  SELECT r.device_id, r.event_ms, c.metric, r.metrics[c.metric] AS value
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
    quantile_cont(value, 0.95) AS value_p95
  FROM metric_values
  WHERE value IS NOT NULL
  GROUP BY device_id, metric
)
SELECT device_id, make_timestamp(period_ms * 1000) AS day_start, metric, CAST(readings AS BIGINT) AS readings,
  value_min, value_avg, value_max, value_p95
FROM per_metric
ORDER BY device_id, metric
) TO '/lake/day.parquet.tmp' (FORMAT parquet, COMPRESSION zstd)
-- parameters:

