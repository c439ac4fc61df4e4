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
    -- field of the contract, readings or a declared metric named at the start of a member ({ or ,
    -- before it: inside a string a quote is escaped) more often than the parsed line holds it: at
    -- the top level and in the elements of its readings (at least once: a nested object reusing
    -- such a name counts too). A name repeated in two spellings ("pm25", "pm\u0032\u0035") does
    -- not count, and a name twice in one element makes the whole line malformed_json (the decoder
    -- rejects that element alone): known gaps.
    ({{range $i, $m := members}}{{if $i}} OR{{end}}
      cardinality(regexp_extract_all(line, {{$m.Pattern}})) > greatest(1, IF(json_extract(line, {{$m.Path}}) IS NULL, 0, 1)
        + coalesce(cardinality(filter(elems, e -> json_extract(e, {{$m.Path}}) IS NOT NULL)), 0))
{{- end}}) AS repeated,
    -- the readings of a batched message (DESIGN.md, "Batched messages"): their JSON text, whether
    -- they are an array of 1 to {{max_batch}} objects, the event_time of the first (where PartitionHour
    -- files the line); athena_elements.sql unnests elems
    json_format(json_extract(line, '$.readings')) AS readings_j,
    coalesce(json_array_length(json_extract(line, '$.readings')) BETWEEN 1 AND {{max_batch}}
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
