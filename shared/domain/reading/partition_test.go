package reading

import (
	"testing"
	"time"
)

var partitionCases = []string{
	`{"device_id":"room-1","event_time":"2026-03-01T08:15:00Z","temperature":21}`,
	`{"event_time":"2026-03-01T08:15:00.123+02:00"}`,
	`{"event_time":"2026-03-01T08:15:00Z","event_time":"2026-03-02T09:00:00Z"}`, // repeated: the last counts
	`{"event_time":"2026-03-01T08:15:00\u005a"}`,                                // escaped
	`{"event_time":1772352900}`,
	`{"event_time":null}`,
	`{"event_time":"yesterday"}`,
	`{"temperature":21}`,
	`[1,2]`,
	`{"event_time":"2026-03-01T08:15:00Z"`,
	`{"event_time":"2026-03-01T08:15:00Z"} trailing`,
	`{"nested":{"event_time":"2020-01-01T00:00:00Z"},"event_time":"2026-03-01T08:15:00Z"}`,
	``,
	// batched: the first element's event_time (not a top-level one)
	`{"device_id":"meter-7","readings":[{"event_time":"2026-03-01T08:15:00Z","co2":1},{"event_time":"2026-03-01T09:15:00Z"}]}`,
	`{"event_time":"2026-03-01T10:00:00Z","readings":[{"event_time":"2026-03-01T08:15:00+05:00"}]}`,
	`{"readings":[{"event_time":"2026-03-01T08:15:00Z","event_time":"2026-03-02T09:00:00Z"}]}`, // repeated in the element
	`{"readings":[{"event_time":"2026-03-01T08:15:00\u005a"}]}`,
	`{"readings":[{"event_time":"2026-03-01T08:15:00Z"}],"readings":[{"event_time":"2026-03-02T09:00:00Z"}]}`,
	`{"event_time":"2026-03-01T08:15:00Z","readings":[]}`,
	`{"event_time":"2026-03-01T08:15:00Z","readings":null}`,
	`{"event_time":"2026-03-01T08:15:00Z","readings":{"event_time":"2026-03-01T08:15:00Z"}}`,
	`{"readings":[null,{"event_time":"2026-03-01T08:15:00Z"}]}`,
	`{"readings":[7]}`,
	`{"readings":[{"co2":1},{"event_time":"2026-03-01T08:15:00Z"}]}`,
	`{"readings":[{"event_time":"2026-03-01T08:15:00Z"},3]}`,
	`{"readings":[{"event_time":"2026-03-01T08:15:00Z","readings":[{"event_time":"2020-01-01T00:00:00Z"}]}]}`,
}

// TestPartitionHourFastPathAgrees: the scanner's answer is the standard library's.
func TestPartitionHourFastPathAgrees(t *testing.T) {
	for _, c := range partitionCases {
		gotT, gotOK := PartitionHour([]byte(c), "event_time")
		wantT, wantOK := partitionHourMap([]byte(c), "event_time")
		if gotOK != wantOK || !gotT.Equal(wantT) {
			t.Errorf("%s: %v %v, want %v %v", c, gotT, gotOK, wantT, wantOK)
		}
	}
	if h, ok := PartitionHour([]byte(partitionCases[0]), "event_time"); !ok || !h.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("hour %v %v", h, ok)
	}
}

func FuzzPartitionHour(f *testing.F) {
	for _, c := range partitionCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gotT, gotOK := PartitionHour(data, "event_time")
		wantT, wantOK := partitionHourMap(data, "event_time")
		if gotOK != wantOK || !gotT.Equal(wantT) {
			t.Errorf("%q: %v %v, want %v %v", data, gotT, gotOK, wantT, wantOK)
		}
	})
}
