{{/*
  The elements of the batched lines of lines (lines.sql), one row each with its line's columns:
  elem (its index, from 0) and the JSON texts of its fields (e_…_j, NULL when absent, as bronze's
  for a line), the string values of device_id, event_time and msg_id (e_…_s). e_repeated is false:
  Trino's JSON functions drop a repeated name, athena_bronze.sql's repeated sees it for the line.
*/}}  SELECT l.*, CAST(u.i - 1 AS BIGINT) AS elem,
    json_format(json_extract(u.e, '$.device_id')) AS e_device_id_j,
    json_format(json_extract(u.e, '$.event_time')) AS e_event_time_j,
    json_format(json_extract(u.e, '$.msg_id')) AS e_msg_id_j,
    json_format(json_extract(u.e, '$.temperature')) AS e_temperature_j,
    json_format(json_extract(u.e, '$.humidity')) AS e_humidity_j,
    json_format(json_extract(u.e, '$.light')) AS e_light_j,
    json_format(json_extract(u.e, '$.co2')) AS e_co2_j,
    json_format(json_extract(u.e, '$.humidity_ratio')) AS e_humidity_ratio_j,
    json_format(json_extract(u.e, '$.occupancy')) AS e_occupancy_j,
{{- range declared}}
    json_format(json_extract(u.e, {{.Path}})) AS e_{{.Col}}_j,
{{- end}}
    json_format(json_extract(u.e, '$.readings')) AS e_readings_j,
    json_extract_scalar(u.e, '$.device_id') AS e_device_id_s,
    json_extract_scalar(u.e, '$.event_time') AS e_event_time_s,
    json_extract_scalar(u.e, '$.msg_id') AS e_msg_id_s,
    false AS e_repeated
  FROM lines l
  CROSS JOIN UNNEST(l.elems) WITH ORDINALITY AS u(e, i)
  WHERE l.batch_ok