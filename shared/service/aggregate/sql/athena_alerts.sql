SELECT alert_id, kind, severity, device_id, rule, alert_time FROM {{.Database}}.alerts WHERE dt = {{param "dt"}}{{if not .Day}} AND hour = {{param "hour"}}{{end}}
