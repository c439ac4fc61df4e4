package simulate

import (
	"io"
	"strings"
	"testing"
	"time"
)

// slice is a Source of the messages given.
type slice []Message

func (s *slice) Next() (Message, error) {
	if len(*s) == 0 {
		return Message{}, io.EOF
	}
	m := (*s)[0]
	*s = (*s)[1:]
	return m, nil
}

func TestWarningsSayWhatWillBeRefusedOrLookSilent(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	msg := func(at time.Time) Message {
		return Message{Topic: "devices/room-1/readings", Payload: []byte(`{"device_id":"room-1","event_time":"` + at.Format(time.RFC3339) + `","temperature":21}`)}
	}
	batch := func(at time.Time) Message {
		return Message{Topic: "devices/room-1/readings", Payload: []byte(`{"device_id":"room-1","readings":[{"event_time":"` + at.Format(time.RFC3339) + `","temperature":21}]}`)}
	}
	cases := []struct {
		name string
		msgs []Message
		want []string
	}{
		{"live", []Message{msg(now.Add(-time.Second)), msg(now.Add(4 * time.Minute))}, nil},
		{"ahead", []Message{msg(now.Add(10 * time.Minute))}, []string{"warning: event times run 10m0s ahead", "future_event_time"}},
		{"ahead, batched", []Message{batch(now.Add(time.Hour))}, []string{"run 1h0m0s ahead"}},
		{"a recording of 2015", []Message{msg(time.Date(2015, 2, 2, 14, 19, 0, 0, time.UTC)), msg(time.Date(2015, 2, 2, 14, 20, 0, 0, time.UTC))},
			[]string{"note: the readings are from 2015-02-02T14:19:00Z, 4325 days old", "--clock watermark", "--rebase"}},
		{"unreadable", []Message{{Payload: []byte(`{"temperature":`)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := slice(c.msgs)
			var got []string
			w := &Warnings{Source: &src, Warn: func(s string) { got = append(got, s) }, Now: func() time.Time { return now }}
			n := len(all(t, w))
			if n != len(c.msgs) {
				t.Fatalf("%d messages passed of %d", n, len(c.msgs))
			}
			if len(c.want) == 0 {
				if len(got) != 0 {
					t.Fatalf("warnings %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings %q, want one", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("warning %q lacks %q", got[0], w)
				}
			}
		})
	}
}
