// Package simulate plays devices: it reads recorded readings (JSON lines, or the UCI occupancy
// CSV replayed as several devices), optionally moves them to the present and mixes in anomalies,
// and publishes them over MQTT at QoS 1, each on its device's topic, waiting for every
// acknowledgement.
package simulate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/tools/occupancy"
)

// Message is one MQTT publication.
type Message struct {
	Topic   string
	Payload []byte
}

// Source yields messages; io.EOF ends it.
type Source interface {
	Next() (Message, error)
}

// UnknownDevice is the topic level for a line whose device id cannot be read.
const UnknownDevice = "_"

func topicFor(payload []byte) string {
	var m struct {
		DeviceID string `json:"device_id"`
	}
	if json.Unmarshal(payload, &m) != nil || !reading.ValidDeviceID(m.DeviceID) {
		return topic.Readings(UnknownDevice)
	}
	return topic.Readings(m.DeviceID)
}

// Lines publishes each line unchanged, on the topic of its device_id.
type Lines struct {
	sc *bufio.Scanner
}

// NewLines reads JSON lines from r.
func NewLines(r io.Reader) *Lines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	return &Lines{sc: sc}
}

// Next implements Source.
func (l *Lines) Next() (Message, error) {
	for l.sc.Scan() {
		if len(bytes.TrimSpace(l.sc.Bytes())) == 0 {
			continue
		}
		p := append([]byte(nil), l.sc.Bytes()...)
		return Message{Topic: topicFor(p), Payload: p}, nil
	}
	if err := l.sc.Err(); err != nil {
		return Message{}, err
	}
	return Message{}, io.EOF
}

// Devices replays one occupancy recording as n devices (room-1 … room-n), row by row: every
// device's reading of a row, then the next row.
type Devices struct {
	readers []*occupancy.Reader
	pending []Message
}

// NewDevices reads the occupancy CSV data (named name) as n devices.
func NewDevices(data []byte, name string, n int) (*Devices, error) {
	if n < 1 {
		return nil, fmt.Errorf("devices: want at least 1, got %d", n)
	}
	d := &Devices{}
	for i := 1; i <= n; i++ {
		d.readers = append(d.readers, occupancy.NewReader(bytes.NewReader(data), name, "room-"+strconv.Itoa(i)))
	}
	return d, nil
}

// Next implements Source.
func (d *Devices) Next() (Message, error) {
	if len(d.pending) == 0 {
		for _, r := range d.readers {
			row, err := r.Next()
			if err != nil {
				return Message{}, err
			}
			d.pending = append(d.pending, Message{Topic: topicFor(row.Message), Payload: row.Message})
		}
	}
	m := d.pending[0]
	d.pending = d.pending[1:]
	return m, nil
}

// Rebase stamps every reading with the time it is taken to be sent (Now), keeping the recording's
// values and order: a recording plays as if it were happening now, at the pace it is sent. (It
// used to keep the recording's spacing from a first reading at the start; sent faster than the
// recording ran, event times then raced ahead of the clock and the pipeline refused them as
// future_event_time.) Stamps strictly increase, so no two readings of a device share an instant
// (an identity without msg_id). A message without a readable event_time is sent unchanged.
type Rebase struct {
	Source
	// Now is the clock (time.Now when nil).
	Now  func() time.Time
	last time.Time
}

// Next implements Source.
func (r *Rebase) Next() (Message, error) {
	m, err := r.Source.Next()
	if err != nil {
		return m, err
	}
	return r.stamped(m), nil
}

func (r *Rebase) stamped(m Message) Message {
	var obj map[string]any
	if json.Unmarshal(m.Payload, &obj) != nil {
		return m
	}
	stamp := func(e map[string]any) bool {
		s, _ := e["event_time"].(string)
		if _, ok := reading.ParseTime([]byte(s)); !ok {
			return false
		}
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		t := now().UTC()
		if !t.After(r.last) {
			t = r.last.Add(time.Microsecond)
		}
		r.last = t
		e["event_time"] = t.Format(time.RFC3339Nano)
		return true
	}
	changed := false
	if els, ok := obj["readings"].([]any); ok { // a batched message: each element its own stamp
		for _, el := range els {
			if e, ok := el.(map[string]any); ok && stamp(e) {
				changed = true
			}
		}
	} else {
		changed = stamp(obj)
	}
	if !changed {
		return m
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return m
	}
	return Message{Topic: m.Topic, Payload: b}
}

// Anomalies turns a fraction of the messages into trouble a real fleet produces: a temperature
// spike (one reading), a stuck sensor (its temperature repeats for the next StuckReadings
// readings), a dropout (the device sends nothing for DropoutReadings readings), or a malformed
// message (cut in half).
type Anomalies struct {
	Source
	Fraction float64
	rng      *rand.Rand
	last     map[string]any
	stuck    map[string]int // readings of the device still to repeat its stuck temperature
	dropped  map[string]int // readings of the device still to drop
	Counts   map[string]int
}

// How long a stuck sensor and a dropout last, in readings of the device (about half an hour and
// twenty minutes of the bundled data, a reading a minute).
const (
	StuckReadings   = 30
	DropoutReadings = 20
)

// NewAnomalies wraps src; seed makes a run repeatable.
func NewAnomalies(src Source, fraction float64, seed uint64) *Anomalies {
	return &Anomalies{Source: src, Fraction: fraction, rng: rand.New(rand.NewPCG(seed, seed+1)), last: map[string]any{},
		stuck: map[string]int{}, dropped: map[string]int{}, Counts: map[string]int{}}
}

// Next implements Source.
func (a *Anomalies) Next() (Message, error) {
	for {
		m, err := a.Source.Next()
		if err != nil {
			return m, err
		}
		var obj map[string]any
		if json.Unmarshal(m.Payload, &obj) != nil {
			return m, nil
		}
		dev, _ := obj["device_id"].(string)
		switch { // an anomaly in progress goes on
		case a.dropped[dev] > 0:
			a.dropped[dev]--
			continue
		case a.stuck[dev] > 0:
			a.stuck[dev]--
			if prev, ok := a.last[dev]; ok {
				obj["temperature"] = prev
			}
			b, _ := json.Marshal(obj)
			return Message{Topic: m.Topic, Payload: b}, nil
		}
		if a.Fraction <= 0 || a.rng.Float64() >= a.Fraction {
			a.last[dev] = obj["temperature"]
			return m, nil
		}
		switch kind := []string{"spike", "stuck", "dropout", "malformed"}[a.rng.IntN(4)]; kind {
		case "spike":
			if t, ok := obj["temperature"].(float64); ok {
				obj["temperature"] = t + 10 + a.rng.Float64()*10
			}
			a.Counts[kind]++
		case "stuck":
			if prev, ok := a.last[dev]; ok {
				obj["temperature"] = prev
				a.stuck[dev] = StuckReadings - 1
			}
			a.Counts[kind]++
		case "dropout":
			a.Counts[kind]++
			a.dropped[dev] = DropoutReadings - 1
			continue
		case "malformed":
			a.Counts[kind]++
			return Message{Topic: m.Topic, Payload: m.Payload[:len(m.Payload)/2]}, nil
		}
		b, _ := json.Marshal(obj)
		return Message{Topic: m.Topic, Payload: b}, nil
	}
}
