package topic

import "testing"

func TestDeviceOf(t *testing.T) {
	for _, tc := range []struct {
		topic, dev string
		ok         bool
	}{
		{"devices/room-1/readings", "room-1", true},
		{Readings("a:b_c-d"), "a:b_c-d", true},
		{"devices//readings", "", false},
		{"devices/room-1/status", "", false},
		{"devices/room/1/readings", "", false},
		{"other/room-1/readings", "", false},
		{"$aws/rules/iotwatch_Rule/devices/room-1/readings", "room-1", true}, // Basic Ingest: the rule sees devices/room-1/readings
		{BasicIngest("r", "room-2"), "room-2", true},
		{"$aws/rules/iotwatch_Rule", "", false},
		{"$aws/rules/r/devices/room-1/status", "", false},
		{"$aws/things/room-1/shadow/update", "", false},
	} {
		dev, ok := DeviceOf(tc.topic)
		if dev != tc.dev || ok != tc.ok {
			t.Errorf("DeviceOf(%q) = %q, %v; want %q, %v", tc.topic, dev, ok, tc.dev, tc.ok)
		}
	}
}
