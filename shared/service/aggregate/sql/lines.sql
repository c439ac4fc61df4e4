{{/*
  The hour's bronze lines, each checked as the evaluate function's decoder checks a message
  (Decoder.DecodeMessage), for silver.sql and dq_hourly.sql: the CTEs src, lines,
  line_rows, parsed, timed, judged and checked. The dialect supplies src: one row per bronze line with line_bytes
  (its length in bytes), source_object (the object's key), ingested_at (the object's time, where
  its name tells it), index_reason (the reason of the rejections index, for what the line alone
  cannot show: a message published on another device's topic, from the future) and one JSON text
  column per top-level field (NULL when absent, 'null' for a JSON null, the JSON text otherwise),
  the string value of device_id, event_time and msg_id (device_id_s, …: NULL when the field is not
  a string), is_object and repeated; the JSON text of each declared metric of the catalog
  (declared_1_j, …, in catalog order: see render.go's declaredMetric); and for a batched message
  (DESIGN.md, "Batched messages"): readings_j (the JSON text of readings, NULL when absent),
  batch_ok (readings is an array of 1 to {{max_batch}} objects) and first_time_j, first_time_s
  (its first element's event_time, where PartitionHour files the line). The dialect's elements
  unnest a batched line's readings (from lines): one row per element with elem (its index, from
  0) and its fields as e_…_j, e_…_s, e_repeated and e_readings_j.

  checked has a row per line (elem NULL) and one per element of a batch that is not rejected
  whole (elem its index). reason is NULL for what the decoder accepts, else the first rule broken
  in the decoder's order: for a line, too_large, malformed_json, the device checks, then for a
  single line the reading's checks, for a batched one bad_batch (its own row has no other
  reason); for an element, malformed_json (a name twice in it), device_mismatch (its own
  device_id), bad_batch (readings in it), then a single reading's checks from event_time on.
  Declared metrics count toward "at least one metric", and are checked like the built-ins, after
  them (every bad_metric check before any out_of_range check). at_ms places a batched line's
  rejection in an hour (dq_hourly): an element's own event time when the decoder accepts it, else
  (the line's own row, an element without a valid one) the first element's, the hour
  PartitionHour files the line under; NULL for a single line, which counts where it is filed.
*/}}src AS (
{{bronze}}
),
lines AS (
  -- a top-level event_time, msg_id or metric of a batched line (the name present, even as null)
  -- makes it bad_batch
  SELECT src.*, readings_j IS NOT NULL AS batched,
    (event_time_j IS NOT NULL OR msg_id_j IS NOT NULL OR temperature_j IS NOT NULL OR humidity_j IS NOT NULL
      OR light_j IS NOT NULL OR co2_j IS NOT NULL OR humidity_ratio_j IS NOT NULL OR occupancy_j IS NOT NULL
{{- range declared}} OR {{.Col}}_j IS NOT NULL{{end}}) AS beside
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
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j{{range declared}}, {{.Col}}_j{{end}}
  FROM lines
  UNION ALL
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated, device_id_j, device_id_s,
    batched, beside, batch_ok, first_time_j, first_time_s,
    elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    e_event_time_j, e_event_time_s, e_msg_id_j, e_msg_id_s,
    e_temperature_j, e_humidity_j, e_light_j, e_co2_j, e_humidity_ratio_j, e_occupancy_j{{range declared}}, e_{{.Col}}_j{{end}}
  FROM (
{{elements}}
  ) e
),
parsed AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated,
    batched, beside, batch_ok, elem, e_repeated, e_device_id_j, e_device_id_s, e_readings_j,
    device_id_j, event_time_j, msg_id_j,
    -- a string field is tested on its JSON text (a string starts with a quote) and taken from its
    -- value (escapes decoded); \z, not $: in the regexps of Java (Athena) $ also matches before a final
    -- line break
    CASE WHEN device_id_j LIKE '"%' AND {{re "device_id_s" `^[A-Za-z0-9:_-]{1,128}\z`}} THEN device_id_s END AS device_id,
    CASE WHEN event_time_j LIKE '"%' AND {{re "event_time_s" `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z`}}
      THEN {{ts "event_time_s"}} END AS ts,
    CASE WHEN first_time_j LIKE '"%' AND {{re "first_time_s" `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z`}}
      THEN {{ts "first_time_s"}} END AS first_ts,
    CASE WHEN msg_id_j IS NULL OR msg_id_j = 'null' THEN ''
      WHEN msg_id_j LIKE '"%' AND length(msg_id_s) <= {{max_msg_id}} THEN msg_id_s END AS msg_id,
    TRY_CAST(temperature_j AS DOUBLE) AS temperature,
    TRY_CAST(humidity_j AS DOUBLE) AS humidity,
    TRY_CAST(light_j AS DOUBLE) AS light,
    TRY_CAST(co2_j AS DOUBLE) AS co2,
    TRY_CAST(humidity_ratio_j AS DOUBLE) AS humidity_ratio,
    TRY_CAST(occupancy_j AS DOUBLE) AS occupancy,
{{- range declared}}
    TRY_CAST({{.Col}}_j AS DOUBLE) AS {{.Col}}, {{.Col}}_j,
{{- end}}
    temperature_j, humidity_j, light_j, co2_j, humidity_ratio_j, occupancy_j
  FROM line_rows
),
timed AS (
  SELECT parsed.*, {{epoch_ms "ts"}} AS event_ms, {{epoch_ms "first_ts"}} AS first_ms FROM parsed
),
judged AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem, batched, first_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
{{- range declared}} {{.Col}},{{end}}
    -- an event time the decoder accepts (the future aside: the rejections index tells it)
    ts IS NOT NULL AND event_ms >= {{min_event_ms}} AND event_ms < {{max_event_ms}} AS timed_ok,
    -- the line's rules (a batched line's elements are not checked when it breaks one)
    CASE
      WHEN index_reason IS NOT NULL THEN index_reason
      WHEN line_bytes > {{max_bytes}} THEN 'too_large'
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
      WHEN ts IS NULL OR event_ms < {{min_event_ms}} OR event_ms >= {{max_event_ms}} THEN 'bad_event_time'
      WHEN msg_id IS NULL THEN 'bad_msg_id'
      WHEN temperature_j IS NULL AND humidity_j IS NULL AND light_j IS NULL
        AND co2_j IS NULL AND humidity_ratio_j IS NULL AND occupancy_j IS NULL
{{- range declared}} AND {{.Col}}_j IS NULL{{end}} THEN 'no_metrics'
      -- the engines re-serialize the JSON they extract, so the text of a metric is a JSON number, a
      -- quoted string, null, true, false, an object or an array: TRY_CAST to DOUBLE succeeds for
      -- numbers only (an overflowing one becomes infinite)
      WHEN (temperature_j IS NOT NULL AND temperature IS NULL) OR (humidity_j IS NOT NULL AND humidity IS NULL)
        OR (light_j IS NOT NULL AND light IS NULL) OR (co2_j IS NOT NULL AND co2 IS NULL)
        OR (humidity_ratio_j IS NOT NULL AND humidity_ratio IS NULL) OR (occupancy_j IS NOT NULL AND occupancy IS NULL)
        -- a number too large for a double is not a finite number
        OR abs(temperature) > {{max_double}} OR abs(humidity) > {{max_double}} OR abs(light) > {{max_double}}
        OR abs(co2) > {{max_double}} OR abs(humidity_ratio) > {{max_double}} OR abs(occupancy) > {{max_double}}
{{- range declared}}
        OR ({{.Col}}_j IS NOT NULL AND {{.Col}} IS NULL) OR abs({{.Col}}) > {{max_double}}
{{- end}} THEN 'bad_metric'
      WHEN NOT (temperature IS NULL OR temperature BETWEEN -50 AND 150) OR NOT (humidity IS NULL OR humidity BETWEEN 0 AND 100)
        OR NOT (light IS NULL OR light BETWEEN 0 AND 200000) OR NOT (co2 IS NULL OR co2 BETWEEN 0 AND 100000)
        OR NOT (humidity_ratio IS NULL OR humidity_ratio BETWEEN 0 AND 1) OR NOT (occupancy IS NULL OR occupancy IN (0, 1))
{{- range declared}}
        OR NOT ({{.Col}} IS NULL OR {{.Col}} BETWEEN {{.Min}} AND {{.Max}})
{{- end}} THEN 'out_of_range'
    END AS own
  FROM timed
),
checked AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms, elem,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
{{- range declared}} {{.Col}},{{end}}
    coalesce(whole, own) AS reason,
    CASE WHEN batched THEN CASE WHEN elem IS NOT NULL AND timed_ok THEN event_ms ELSE first_ms END END AS at_ms
  FROM judged
  WHERE elem IS NULL OR whole IS NULL
)
