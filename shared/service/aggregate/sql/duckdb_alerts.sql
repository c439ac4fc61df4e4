{{if .AlertFiles}}SELECT alert_id, kind, severity, device_id, rule, alert_time
FROM read_json({{.AlertFiles}}, format = 'newline_delimited', ignore_errors = true,
  columns = {alert_id: 'VARCHAR', kind: 'VARCHAR', severity: 'VARCHAR', device_id: 'VARCHAR', rule: 'VARCHAR', alert_time: 'VARCHAR'}){{else}}SELECT CAST(NULL AS VARCHAR) AS alert_id, CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS VARCHAR) AS severity,
  CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS alert_time WHERE false{{end}}
