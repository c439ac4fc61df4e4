  SELECT
    CAST(j[1] AS VARCHAR) AS device_id_j,
    CAST(j[2] AS VARCHAR) AS event_time_j,
    CAST(j[3] AS VARCHAR) AS msg_id_j,
    CAST(j[4] AS VARCHAR) AS temperature_j,
    CAST(j[5] AS VARCHAR) AS humidity_j,
    CAST(j[6] AS VARCHAR) AS light_j,
    CAST(j[7] AS VARCHAR) AS co2_j,
    CAST(j[8] AS VARCHAR) AS humidity_ratio_j,
    CAST(j[9] AS VARCHAR) AS occupancy_j,
    -- json_keys lists the top-level names as written (escapes decoded), repeats included
    coalesce(len(keys) <> len(list_distinct(keys)), false) AS repeated
  FROM (
    SELECT json_extract(json, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
      '$.light', '$.co2', '$.humidity_ratio', '$.occupancy']) AS j,
      json_keys(json) AS keys
    FROM read_json_objects({{.BronzeFiles}}, format = 'newline_delimited', ignore_errors = true, maximum_object_size = 1048576){{if .RejectionFiles}}
    -- not the lines the evaluation rejected for what the line alone cannot show
    WHERE md5(CAST(json AS VARCHAR)) NOT IN (
      SELECT line_md5 FROM read_json({{.RejectionFiles}}, format = 'newline_delimited', ignore_errors = true, columns = {line_md5: 'VARCHAR'})
      WHERE line_md5 IS NOT NULL){{end}}
  )
