{{if .SilverFiles}}SELECT * FROM read_parquet({{.SilverFiles}}){{else}}{{empty_silver}}{{end}}
