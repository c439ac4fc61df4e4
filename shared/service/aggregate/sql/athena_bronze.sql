  SELECT
    json_format(json_extract(line, '$.device_id')) AS device_id_j,
    json_format(json_extract(line, '$.event_time')) AS event_time_j,
    json_format(json_extract(line, '$.msg_id')) AS msg_id_j,
    json_format(json_extract(line, '$.temperature')) AS temperature_j,
    json_format(json_extract(line, '$.humidity')) AS humidity_j,
    json_format(json_extract(line, '$.light')) AS light_j,
    json_format(json_extract(line, '$.co2')) AS co2_j,
    json_format(json_extract(line, '$.humidity_ratio')) AS humidity_ratio_j,
    json_format(json_extract(line, '$.occupancy')) AS occupancy_j
  FROM {{.Database}}.bronze_lines
  WHERE dt = {{param "dt"}} AND hour = {{param "hour"}}
