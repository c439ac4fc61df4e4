SELECT * FROM {{.Database}}.silver_readings WHERE event_time >= CAST({{param "start_ts"}} AS TIMESTAMP) AND event_time < CAST({{param "end_ts"}} AS TIMESTAMP)
