SELECT alert_id, kind, severity, device_id, alert_time FROM {{.Database}}.alerts WHERE dt = {{param "dt"}} AND hour = {{param "hour"}}
