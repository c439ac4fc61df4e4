COPY (
{{body}}
) TO {{.Output}} (FORMAT parquet, COMPRESSION zstd)
