DELETE FROM {{.Database}}.hourly_metrics WHERE hour_start = CAST({{param "hour_start"}} AS TIMESTAMP)
