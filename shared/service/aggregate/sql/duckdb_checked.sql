{{/*
  The hour's bronze lines, checked (lines.sql), kept in a temporary table for the statements of the
  hour that read them (silver, dq_hourly): DuckDB reads and parses the bronze objects once.
*/}}CREATE OR REPLACE TEMP TABLE {{.CheckedTable}} AS
WITH {{template "lines.sql" .}}
SELECT * FROM checked
