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
	} {
		dev, ok := DeviceOf(tc.topic)
		if dev != tc.dev || ok != tc.ok {
			t.Errorf("DeviceOf(%q) = %q, %v; want %q, %v", tc.topic, dev, ok, tc.dev, tc.ok)
		}
	}
}
