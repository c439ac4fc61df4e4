{{/*
  Athena takes execution parameters in SELECT, INSERT INTO, CTAS and UNLOAD only, not in DELETE:
  the one value here is a typed literal that the Go code formats from a time.Time (never from input).
*/}}DELETE FROM {{.Database}}.hourly_metrics WHERE hour_start = {{hour_literal}}
