{{/*
  One period of an Iceberg table replaced: DELETE its rows, then INSERT them anew (two statements,
  split by the Go code at the line "-- then"). Athena takes execution parameters in SELECT, INSERT
  INTO, CTAS and UNLOAD only, not in DELETE: the DELETE's values are typed literals that the Go code
  formats from a time.Time (never from input).
*/}}DELETE FROM {{.Database}}.{{.Table}} WHERE {{.Where}}
-- then
INSERT INTO {{.Database}}.{{.Table}}
{{body}}
