SELECT device_id, location FROM {{.Database}}.devices
