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
{{- range declared}}
    CAST(j[{{.Slot}}] AS VARCHAR) AS {{.Col}}_j,
{{- end}}
    -- the string values, from the extracted fragments (a small parse each, not of the line)
    json_extract_string(j[1], '$') AS device_id_s, json_extract_string(j[2], '$') AS event_time_s, json_extract_string(j[3], '$') AS msg_id_s,
    -- json_keys lists the top-level names as written (escapes decoded), repeats included
    coalesce(len(keys) <> len(list_distinct(keys)), false) AS repeated,
    -- the readings of a batched message (DESIGN.md, "Batched messages"): their JSON text, whether
    -- they are an array of 1 to {{max_batch}} objects, the event_time of the first (where PartitionHour
    -- files the line), and the elements (duckdb_elements.sql unnests them)
    CAST(readings AS VARCHAR) AS readings_j,
    coalesce(json_type(readings) = 'ARRAY' AND json_array_length(readings) BETWEEN 1 AND {{max_batch}}
      AND len(list_filter(json_type(readings, '$[*]'), lambda t: t IS DISTINCT FROM 'OBJECT')) = 0, false) AS batch_ok,
    CAST(json_extract(readings, '$[0].event_time') AS VARCHAR) AS first_time_j,
    json_extract_string(readings, '$[0].event_time') AS first_time_s,
    CASE WHEN json_type(readings) = 'ARRAY' THEN json_extract(readings, '$[*]') END AS elems
  FROM (
    -- each line as written (CSV reading with no delimiter, quote or escape that JSON text can hold
    -- unescaped), so that its length is that of the message
    SELECT strlen(b.line) AS line_bytes,
      regexp_extract(b.filename, '(bronze/dt=[^/]+/hour=[^/]+/[^/]+)$', 1) AS source_object,
      {{object_time "b.filename"}} AS ingested_at,
      -- valid JSON that starts with a brace is an object
      coalesce(json_valid(b.line) AND ltrim(b.line, E' \t\n\r')[1] = '{', false) AS is_object,
      CASE WHEN json_valid(b.line) THEN json_extract(b.line, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
        '$.light', '$.co2', '$.humidity_ratio', '$.occupancy'{{range declared}}, {{.Path}}{{end}}]) END AS j,
      CASE WHEN json_valid(b.line) THEN json_keys(b.line) END AS keys,
      CASE WHEN json_valid(b.line) THEN json_extract(b.line, '$.readings') END AS readings,
      {{if .RejectionFiles}}r.reason{{else}}CAST(NULL AS VARCHAR){{end}} AS index_reason
    FROM read_csv({{.BronzeFiles}}, columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '',
      auto_detect = false, compression = 'gzip', max_line_size = 2097152, strict_mode = false, ignore_errors = true, filename = true) b{{if .RejectionFiles}}
    -- the lines the evaluation rejected for what the line alone cannot show, by the rejections index
    LEFT JOIN (
      SELECT line_md5, min(reason) AS reason
      FROM read_json({{.RejectionFiles}}, format = 'newline_delimited', ignore_errors = true, columns = {line_md5: 'VARCHAR', reason: 'VARCHAR'})
      WHERE line_md5 IS NOT NULL
      GROUP BY line_md5) r ON r.line_md5 = md5(b.line){{end}}
    WHERE b.line IS NOT NULL
  )
