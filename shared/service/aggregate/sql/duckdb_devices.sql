SELECT device_id, location FROM iotwatch_devices
