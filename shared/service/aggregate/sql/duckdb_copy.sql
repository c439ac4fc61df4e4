COPY (
{{body}}
) TO {{.Output}} (FORMAT parquet, COMPRESSION zstd{{if .RowGroupSize}}, ROW_GROUP_SIZE {{.RowGroupSize}}{{end}})
