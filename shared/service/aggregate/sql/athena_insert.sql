INSERT INTO {{.Database}}.hourly_metrics
{{template "hourly.sql" .}}
