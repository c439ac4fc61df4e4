{{/*
  The hour's bronze lines, each checked as the evaluate function's decoder checks a message (the
  CTEs src, parsed and checked, for silver.sql and dq_hourly.sql). The dialect supplies src: one row
  per bronze line with line_bytes (its length in bytes), source_object (the object's key),
  ingested_at (the object's time, where its name tells it), index_reason (the reason of the
  rejections index, for what the line alone cannot show: a reading published on another device's
  topic, from the future) and one JSON text column per field (NULL when absent, 'null' for a JSON
  null, the JSON text otherwise), the string value of device_id, event_time and msg_id
  (device_id_s, …: NULL when the field is not a string), is_object and repeated; and the JSON text
  of each declared metric of the catalog (declared_1_j, …, in catalog order: see render.go's
  declaredMetric). reason is NULL for a line the decoder accepts, else the first rule it breaks, in
  the decoder's order: declared metrics count toward "at least one metric", and are checked like
  the built-ins, after them (every bad_metric check before any out_of_range check).
*/}}src AS (
{{bronze}}
),
parsed AS (
  SELECT source_object, ingested_at, line_bytes, index_reason, is_object, repeated,
    device_id_j, event_time_j, msg_id_j,
    -- a string field is tested on its JSON text (a string starts with a quote) and taken from its
    -- value (escapes decoded); \z, not $: in the regexps of Java (Athena) $ also matches before a final
    -- line break
    CASE WHEN device_id_j LIKE '"%' AND {{re "device_id_s" `^[A-Za-z0-9:_-]{1,128}\z`}} THEN device_id_s END AS device_id,
    CASE WHEN event_time_j LIKE '"%' AND {{re "event_time_s" `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\z`}}
      THEN {{ts "event_time_s"}} END AS ts,
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
  FROM src
),
timed AS (
  SELECT parsed.*, {{epoch_ms "ts"}} AS event_ms FROM parsed
),
checked AS (
  SELECT source_object, ingested_at, device_id, msg_id, event_ms,
    temperature, humidity, light, co2, humidity_ratio, occupancy,
{{- range declared}} {{.Col}},{{end}}
    CASE
      WHEN index_reason IS NOT NULL THEN index_reason
      WHEN line_bytes > {{max_bytes}} THEN 'too_large'
      -- a field name repeated at the top level makes the line malformed (engines disagree on which
      -- copy wins)
      WHEN NOT is_object OR repeated THEN 'malformed_json'
      WHEN device_id_j IS NULL OR device_id_j = 'null' THEN 'missing_device_id'
      WHEN device_id IS NULL THEN 'bad_device_id'
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
    END AS reason
  FROM timed
)
