COPY (
{{template "hourly.sql" .}}
) TO {{.Output}} (FORMAT parquet, COMPRESSION zstd)
