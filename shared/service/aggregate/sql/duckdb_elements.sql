{{/*
  The elements of the batched lines of lines (lines.sql), one row each with its line's columns:
  elem (its index, from 0) and the JSON texts of its fields (e_…_j, NULL when absent, as bronze's
  for a line), the string values of device_id, event_time and msg_id (e_…_s) and e_repeated (a
  name twice in the element: json_keys lists repeats).
*/}}  SELECT v.*,
    CAST(v.ej[1] AS VARCHAR) AS e_device_id_j,
    CAST(v.ej[2] AS VARCHAR) AS e_event_time_j,
    CAST(v.ej[3] AS VARCHAR) AS e_msg_id_j,
    CAST(v.ej[4] AS VARCHAR) AS e_temperature_j,
    CAST(v.ej[5] AS VARCHAR) AS e_humidity_j,
    CAST(v.ej[6] AS VARCHAR) AS e_light_j,
    CAST(v.ej[7] AS VARCHAR) AS e_co2_j,
    CAST(v.ej[8] AS VARCHAR) AS e_humidity_ratio_j,
    CAST(v.ej[9] AS VARCHAR) AS e_occupancy_j,
{{- range declared}}
    CAST(v.ej[{{.Slot}}] AS VARCHAR) AS e_{{.Col}}_j,
{{- end}}
    CAST(v.readings_in AS VARCHAR) AS e_readings_j,
    json_extract_string(v.ej[1], '$') AS e_device_id_s, json_extract_string(v.ej[2], '$') AS e_event_time_s, json_extract_string(v.ej[3], '$') AS e_msg_id_s,
    coalesce(len(v.ekeys) <> len(list_distinct(v.ekeys)), false) AS e_repeated
  FROM (
    SELECT u.*, json_extract(u.e, ['$.device_id', '$.event_time', '$.msg_id', '$.temperature', '$.humidity',
        '$.light', '$.co2', '$.humidity_ratio', '$.occupancy'{{range declared}}, {{.Path}}{{end}}]) AS ej,
      json_extract(u.e, '$.readings') AS readings_in, json_keys(u.e) AS ekeys
    FROM (
      SELECT l.*, unnest(l.elems) AS e, generate_subscripts(l.elems, 1) - 1 AS elem
      FROM lines l
      WHERE l.batch_ok
    ) u
  ) v