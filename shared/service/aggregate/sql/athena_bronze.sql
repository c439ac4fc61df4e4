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
{{- range declared}}
    json_format(json_extract(line, {{.Path}})) AS {{.Col}}_j,
{{- end}}
    json_extract_scalar(line, '$.device_id') AS device_id_s,
    json_extract_scalar(line, '$.event_time') AS event_time_s,
    json_extract_scalar(line, '$.msg_id') AS msg_id_s,
    -- The JSON functions of Trino drop repeated names without a word, so the line is searched for a
    -- field of the contract or a declared metric named twice at the start of a member ({ or ,
    -- before it: inside a string a quote is escaped). A nested object reusing such a name counts
    -- too, and a name repeated in two spellings ("pm25", "pm\u0032\u0035") does not: known gaps.
    (cardinality(regexp_extract_all(line, '[{,]\s*"device_id"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"event_time"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"msg_id"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"temperature"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"light"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"co2"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"humidity_ratio"\s*:')) > 1 OR
      cardinality(regexp_extract_all(line, '[{,]\s*"occupancy"\s*:')) > 1
{{- range declared}} OR
      cardinality(regexp_extract_all(line, {{.Pattern}})) > 1
{{- end}}) AS repeated
  FROM (
    -- bronze_lines reads each line as written, so its length is that of the message
    SELECT b.line, length(to_utf8(b.line)) AS line_bytes,
      regexp_extract(b."$path", '(bronze/dt=[^/]+/hour=[^/]+/[^/]+)$', 1) AS source_object,
      {{object_time "b.\"$path\""}} AS ingested_at,
      r.reason AS index_reason
    FROM {{.Database}}.bronze_lines b
    -- the lines the evaluation rejected for what the line alone cannot show, by the rejections index
    LEFT JOIN (
      SELECT line_md5, min(reason) AS reason
      FROM {{.Database}}.rejections
      WHERE dt = {{param "dt"}} AND hour = {{param "hour"}} AND line_md5 IS NOT NULL
      GROUP BY line_md5) r ON r.line_md5 = lower(to_hex(md5(to_utf8(b.line))))
    WHERE b.dt = {{param "dt"}} AND b.hour = {{param "hour"}}
  ) l
