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

// TestPartitionHours: a batched line is filed in the hour of its first element (PartitionHour's)
// and in each other hour of an element whose event_time the decoder accepts, whatever else is
// wrong with the element; a single reading, or a batch rejected whole, in PartitionHour's alone.
func TestPartitionHours(t *testing.T) {
	h := func(hour int) time.Time { return time.Date(2026, 3, 1, hour, 0, 0, 0, time.UTC) }
	el := func(at string, rest string) string { return `{"event_time":"` + at + `"` + rest + `}` }
	for _, tc := range []struct {
		name string
		in   string
		want []time.Time
	}{
		{"a single reading", `{"device_id":"room-1","event_time":"2026-03-01T08:15:00Z","temperature":21}`, []time.Time{h(8)}},
		{"a single reading out of the range", `{"device_id":"room-1","event_time":"1999-03-01T08:15:00Z","temperature":21}`, []time.Time{time.Date(1999, 3, 1, 8, 0, 0, 0, time.UTC)}},
		{"unpartitioned", `{"device_id":"room-1","event_time":"yesterday"}`, nil},
		{"a batch of one hour", batchOf(el("2026-03-01T08:15:00Z", `,"co2":1`), el("2026-03-01T08:16:00Z", `,"co2":1`)), []time.Time{h(8)}},
		{"a batch over three hours", batchOf(el("2026-03-01T08:59:00Z", `,"co2":1`), el("2026-03-01T10:00:00+01:00", `,"co2":1`),
			el("2026-03-01T08:10:00Z", `,"co2":1`), el("2026-03-01T10:00:00Z", `,"co2":1`)), []time.Time{h(8), h(9), h(10)}},
		{"the first element later", batchOf(el("2026-03-01T09:01:00Z", `,"co2":1`), el("2026-03-01T08:01:00Z", `,"co2":1`)), []time.Time{h(9), h(8)}},
		{"elements rejected for other fields count", batchOf(el("2026-03-01T08:01:00Z", `,"co2":1`), el("2026-03-01T09:01:00Z", `,"voc":1`),
			el("2026-03-01T10:01:00Z", `,"device_id":"other","co2":1`), el("2026-03-01T11:01:00Z", `,"co2":1,"co2":2`), el("2026-03-01T12:01:00Z", `,"co2":-1`)),
			[]time.Time{h(8), h(9), h(10), h(11), h(12)}},
		{"elements without a valid time do not", batchOf(el("2026-03-01T08:01:00Z", `,"co2":1`), el("1999-03-01T09:01:00Z", `,"co2":1`),
			el("2026-03-01 10:01:00Z", `,"co2":1`), `{"co2":1}`, `{"event_time":7,"co2":1}`, el("2026-03-01T13:01:00\u005a", `,"co2":1`)),
			[]time.Time{h(8), h(13)}},
		{"the first element without a valid time", batchOf(`{"co2":1}`, el("2026-03-01T09:01:00Z", `,"co2":1`)), nil},
		{"rejected whole: event_time beside", `{"device_id":"meter-7","event_time":"2026-03-01T08:00:00Z","readings":[` + el("2026-03-01T08:01:00Z", `,"co2":1`) + `,` + el("2026-03-01T09:01:00Z", `,"co2":1`) + `]}`, []time.Time{h(8)}},
		{"rejected whole: an element not an object", batchOf(el("2026-03-01T08:01:00Z", `,"co2":1`), el("2026-03-01T09:01:00Z", `,"co2":1`), `7`), []time.Time{h(8)}},
		{"rejected whole: no device", `{"readings":[` + el("2026-03-01T08:01:00Z", `,"co2":1`) + `,` + el("2026-03-01T09:01:00Z", `,"co2":1`) + `]}`, []time.Time{h(8)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PartitionHours([]byte(tc.in), nil)
			if len(got) != len(tc.want) {
				t.Fatalf("PartitionHours(%s) = %v; want %v", tc.in, got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Fatalf("PartitionHours(%s) = %v; want %v", tc.in, got, tc.want)
				}
			}
			if first, ok := PartitionHour([]byte(tc.in), "event_time"); ok != (len(got) > 0) || ok && !first.Equal(got[0]) {
				t.Errorf("PartitionHour(%s) = %v %v; PartitionHours' first is not it: %v", tc.in, first, ok, got)
			}
		})
	}
	// dst is appended to; a single message after a batch is not taken for it (the pooled
	// decoder's batch is reset)
	dst := PartitionHours([]byte(batchOf(el("2026-03-01T08:01:00Z", `,"co2":1`), el("2026-03-01T09:01:00Z", `,"co2":1`))), []time.Time{h(1)})
	if len(dst) != 3 || !dst[0].Equal(h(1)) {
		t.Errorf("PartitionHours appended %v", dst)
	}
	if got := PartitionHours([]byte(`{"device_id":"a","event_time":"2026-03-01T05:00:00Z","co2":1}`), nil); len(got) != 1 || !got[0].Equal(h(5)) {
		t.Errorf("a single reading after a batch: %v", got)
	}
}
