{{/*
  The hour's bronze lines, checked (lines.sql), kept in a table of the in-memory database, dropped after the hour, for the statements of the
  hour that read them (silver, dq_hourly): DuckDB reads and parses the bronze objects once.
*/}}CREATE OR REPLACE TABLE {{.CheckedTable}} AS
WITH {{template "lines.sql" .}}
SELECT * FROM checked
