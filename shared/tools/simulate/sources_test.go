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
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	msgs := all(t, &Rebase{Source: src, Start: start})
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
	if !times(msgs[0]).Equal(start) || times(msgs[3]).Sub(times(msgs[0])) != 59*time.Second {
		t.Errorf("rebased times %s, %s: want the first at %s and the spacing kept (59 s in the recording)", times(msgs[0]), times(msgs[3]), start)
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
