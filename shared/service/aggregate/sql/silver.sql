{{/*
  silver_readings of one UTC hour (DESIGN.md, "Silver and daily gold"), the same text for Athena
  and DuckDB: one row per reading identity of the hour that the decoder accepts (a single line's,
  or an element's of a batched line: the elements of the hour, whichever hours the line is filed
  in; lines.sql), (device_id,
  msg_id), or (device_id, event_time to the millisecond) without msg_id, with lineage and the
  declared metrics of the catalog the reading carries (metrics). Copies of a
  reading are normally identical; where they are not, every column comes from one copy, the first
  by (source object, then values): the result does not depend on the order of the lines. param
  emits a positional parameter: Athena takes them only in WHERE clauses.
*/}}
WITH {{if .CheckedTable}}checked AS (SELECT * FROM {{.CheckedTable}}){{else}}{{template "lines.sql" .}}{{end}},
identified AS (
  SELECT checked.*, CASE WHEN msg_id <> '' THEN 'm:' || msg_id ELSE 't:' || CAST(event_ms AS VARCHAR) END AS identity
  FROM checked
  WHERE reason IS NULL AND event_ms >= {{param "start_ms"}} AND event_ms < {{param "end_ms"}}
),
copies AS (
  -- the copies of each identity, numbered in a fixed order (source object, then values: NULLs last)
  SELECT identified.*,
    row_number() OVER (PARTITION BY device_id, identity
      ORDER BY source_object NULLS LAST, temperature NULLS LAST, humidity NULLS LAST, light NULLS LAST, co2 NULLS LAST,
        humidity_ratio NULLS LAST, occupancy NULLS LAST,{{range declared}} {{.Col}} NULLS LAST,{{end}} event_ms) AS copy_no,
    count(*) OVER (PARTITION BY device_id, identity) AS copies,
    min(ingested_at) OVER (PARTITION BY device_id, identity) AS first_ingested_at
  FROM identified
),
readings AS (
  -- every column from the first copy; ingested_at is the earliest arrival of any copy
  SELECT device_id, event_ms, CASE WHEN msg_id <> '' THEN msg_id END AS msg_id,
    temperature, humidity, light, co2, humidity_ratio, occupancy,{{range declared}} {{.Col}},{{end}}
    copies, source_object, first_ingested_at AS ingested_at
  FROM copies
  WHERE copy_no = 1
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
  {{now}} AS processed_at, {{pipeline_version}} AS pipeline_version,
  -- the declared metrics the reading carries, by name (NULL when none: as out_of_range and
  -- alert_rules are); a metric the catalog no longer declares is left out, bronze keeps it
  {{metric_map "r."}} AS metrics
FROM readings r
LEFT JOIN raised x ON x.device_id = r.device_id AND x.event_ms = r.event_ms
ORDER BY r.device_id, r.event_ms
