package simulate

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func all(t *testing.T, s Source) []Message {
	var out []Message
	for {
		m, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func TestLinesTopics(t *testing.T) {
	in := `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","light":1}

not json
{"device_id":"room 1"}
{"event_time":"x"}
`
	got := all(t, NewLines(strings.NewReader(in)))
	want := []string{"devices/room-1/readings", "devices/_/readings", "devices/_/readings", "devices/_/readings"}
	if len(got) != len(want) {
		t.Fatalf("%d messages; want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Topic != want[i] {
			t.Errorf("message %d (%s) on %s; want %s", i, m.Payload, m.Topic, want[i])
		}
	}
	if string(got[1].Payload) != "not json" {
		t.Errorf("a line is published unchanged: %q", got[1].Payload)
	}
}

func TestDevicesRebaseAnomalies(t *testing.T) {
	data, err := os.ReadFile("../../../events/occupancy/datatest.txt")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := NewDevices(data, "datatest.txt", 3)
	// the clock moves 5 ms a reading (200 a second); it stands still at the 4th reading
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	calls := 0
	now := func() time.Time {
		calls++
		if calls != 4 {
			clock = clock.Add(5 * time.Millisecond)
		}
		return clock
	}
	msgs := all(t, &Rebase{Source: src, Now: now})
	if len(msgs) != 3*2665 || msgs[0].Topic != "devices/room-1/readings" || msgs[2].Topic != "devices/room-3/readings" {
		t.Fatalf("%d messages, first topics %s %s", len(msgs), msgs[0].Topic, msgs[2].Topic)
	}
	times := func(m Message) time.Time {
		var r struct {
			EventTime time.Time `json:"event_time"`
		}
		json.Unmarshal(m.Payload, &r)
		return r.EventTime
	}
	first := time.Date(2026, 11, 22, 10, 0, 0, 5e6, time.UTC)
	if !times(msgs[0]).Equal(first) || times(msgs[3]).Sub(times(msgs[2])) != time.Microsecond || times(msgs[4]).Sub(times(msgs[0])) != 15*time.Millisecond {
		t.Errorf("rebased times %s, %s, %s, %s: want each reading at the clock when taken (from %s), strictly increasing",
			times(msgs[0]), times(msgs[2]), times(msgs[3]), times(msgs[4]), first)
	}
	for i := 1; i < len(msgs); i++ {
		if !times(msgs[i]).After(times(msgs[i-1])) {
			t.Fatalf("reading %d at %s, not after %s", i, times(msgs[i]), times(msgs[i-1]))
		}
	}
	var batched []Message
	src, _ = NewDevices(data, "datatest.txt", 2)
	bs := &Batches{Source: &Rebase{Source: src, Now: now}, N: 3}
	batched = all(t, bs)
	var b struct {
		Readings []struct {
			EventTime time.Time `json:"event_time"`
		} `json:"readings"`
	}
	if err := json.Unmarshal(batched[0].Payload, &b); err != nil || len(b.Readings) != 3 || !b.Readings[2].EventTime.After(b.Readings[0].EventTime) ||
		b.Readings[0].EventTime.Before(first) {
		t.Errorf("a batch of rebased readings: %s (%v)", batched[0].Payload, err)
	}
	src, _ = NewDevices(data, "datatest.txt", 1)
	an := NewAnomalies(src, 0.05, 3)
	sent := all(t, an)
	n := len(sent)
	if an.Counts["dropout"] == 0 || an.Counts["malformed"] == 0 || an.Counts["spike"] == 0 || an.Counts["stuck"] == 0 {
		t.Fatalf("anomalies %v over %d messages", an.Counts, n)
	}
	// A dropout lasts DropoutReadings readings (one at the end of the data may be cut short); a
	// stuck sensor repeats its temperature for StuckReadings readings.
	if dropped := 2665 - n; dropped > an.Counts["dropout"]*DropoutReadings || dropped <= (an.Counts["dropout"]-1)*DropoutReadings {
		t.Errorf("%d readings dropped by %d dropouts of %d", dropped, an.Counts["dropout"], DropoutReadings)
	}
	longest, run, prev := 0, 0, ""
	for _, m := range sent {
		var r struct {
			Temperature json.RawMessage `json:"temperature"`
		}
		if json.Unmarshal(m.Payload, &r) != nil {
			continue
		}
		if string(r.Temperature) == prev {
			run++
		} else {
			run, prev = 1, string(r.Temperature)
		}
		longest = max(longest, run)
	}
	if longest < StuckReadings {
		t.Errorf("the longest run of one temperature is %d readings; a stuck sensor repeats %d", longest, StuckReadings)
	}
}
