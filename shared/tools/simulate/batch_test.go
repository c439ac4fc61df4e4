package simulate

import (
	"io"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// TestBatchesCarryTheSameReadings: batched, the readings of each device decode to exactly the
// readings sent one by one, in order; partial batches go out at the end; a line that is not a
// reading goes out alone, unchanged.
func TestBatchesCarryTheSameReadings(t *testing.T) {
	var lines []string
	for i := range 7 {
		for _, dev := range []string{"room-1", "room-2"} {
			lines = append(lines, `{"device_id":"`+dev+`","event_time":"2026-03-01T08:0`+string(rune('0'+i))+`:00Z","temperature":2`+string(rune('0'+i))+`,"msg_id":"`+dev+`-`+string(rune('0'+i))+`"}`)
		}
	}
	lines = append(lines, `not json`)
	src := strings.Join(lines, "\n")

	var d reading.Decoder
	decodeAll := func(s Source) (map[string][]reading.Reading, []string, int) {
		out := map[string][]reading.Reading{}
		var odd []string
		n := 0
		for {
			m, err := s.Next()
			if err == io.EOF {
				return out, odd, n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			rs, bad, err := d.DecodeMessage(m.Payload, reading.Options{}, nil)
			if err != nil || len(bad) > 0 {
				odd = append(odd, string(m.Payload))
				continue
			}
			for _, r := range rs {
				if !strings.HasSuffix(m.Topic, r.DeviceID+"/readings") {
					t.Errorf("reading of %s on topic %s", r.DeviceID, m.Topic)
				}
				out[r.DeviceID] = append(out[r.DeviceID], r)
			}
		}
	}
	one, oddOne, msgsOne := decodeAll(NewLines(strings.NewReader(src)))
	b := &Batches{Source: NewLines(strings.NewReader(src)), N: 3}
	three, oddThree, msgsThree := decodeAll(b)
	if len(one["room-1"]) != 7 || len(one["room-2"]) != 7 {
		t.Fatalf("singles: %d, %d readings", len(one["room-1"]), len(one["room-2"]))
	}
	for dev := range one {
		for i := range one[dev] {
			if i >= len(three[dev]) || three[dev][i].MsgID != one[dev][i].MsgID || !three[dev][i].EventTime.Equal(one[dev][i].EventTime) {
				t.Fatalf("%s reading %d differs batched: %v", dev, i, three[dev])
			}
			a, _ := one[dev][i].Value(reading.Temperature)
			c, _ := three[dev][i].Value(reading.Temperature)
			if a != c {
				t.Errorf("%s reading %d: temperature %v batched, %v alone", dev, i, c, a)
			}
		}
	}
	if msgsOne != 15 || msgsThree != 7 { // 2 devices × (3+3+1), and the odd line
		t.Errorf("messages: %d alone, %d batched by 3; want 15 and 7", msgsOne, msgsThree)
	}
	if len(oddOne) != 1 || len(oddThree) != 1 || oddThree[0] != "not json" {
		t.Errorf("the odd line: %v, %v", oddOne, oddThree)
	}
	if b.Readings != 15 {
		t.Errorf("Readings = %d; want 15 (14 and the odd line)", b.Readings)
	}
}
