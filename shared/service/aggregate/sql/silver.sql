{{/*
  silver_readings of one UTC hour (DESIGN.md, "Silver and daily gold"), the same text for Athena
  and DuckDB: one row per reading identity the decoder accepts, (device_id, msg_id), or
  (device_id, event_time) without msg_id, with lineage. Copies of a reading are normally identical;
  where they are not, min() keeps the result deterministic. param emits a positional parameter:
  Athena takes them only in WHERE clauses.
*/}}
WITH {{if .CheckedTable}}checked AS (SELECT * FROM {{.CheckedTable}}){{else}}{{template "lines.sql" .}}{{end}},
readings AS (
  SELECT device_id, min(event_ms) AS event_ms, CASE WHEN min(msg_id) <> '' THEN min(msg_id) END AS msg_id,
    min(temperature) AS temperature, min(humidity) AS humidity, min(light) AS light,
    min(co2) AS co2, min(humidity_ratio) AS humidity_ratio, min(occupancy) AS occupancy,
    count(*) AS copies, min(source_object) AS source_object, min(ingested_at) AS ingested_at
  FROM checked
  WHERE reason IS NULL AND event_ms >= {{param "start_ms"}} AND event_ms < {{param "end_ms"}}
  GROUP BY device_id, CASE WHEN msg_id <> '' THEN 'm:' || msg_id ELSE 't:' || CAST(event_ms AS VARCHAR) END
),
raised AS (
  -- the rules of the alerts a reading raised: the alert_time of an alert is the event_time of its reading
  SELECT device_id, {{ts "alert_time" | epoch_ms}} AS event_ms, {{join_sorted "rule"}} AS alert_rules
  FROM ({{alerts}}) a
  WHERE kind IN ('OPEN', 'ESCALATE', 'REMIND', 'RESOLVE') AND rule IS NOT NULL
  GROUP BY device_id, {{ts "alert_time" | epoch_ms}}
)
SELECT r.device_id, {{ts_from_ms "r.event_ms"}} AS event_time, r.msg_id,
  r.temperature, r.humidity, r.light, r.co2, r.humidity_ratio, r.occupancy,
  -- the metrics outside the usual range of a room (reading.UsualRanges), stateless
  nullif(concat_ws(',',
{{- range $i, $u := usual_ranges}}{{if $i}},{{end}}
    CASE WHEN r.{{$u.Metric}} < {{$u.Low}} OR r.{{$u.Metric}} > {{$u.High}} THEN '{{$u.Metric}}' END
{{- end}}), '') AS out_of_range,
  x.alert_rules,
  CAST(r.copies AS BIGINT) AS copies, r.source_object, r.ingested_at,
  {{now}} AS processed_at, {{pipeline_version}} AS pipeline_version
FROM readings r
LEFT JOIN raised x ON x.device_id = r.device_id AND x.event_ms = r.event_ms
ORDER BY r.device_id, r.event_ms
