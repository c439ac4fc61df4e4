// Package replay sends quarantined records back to the stream (`iotwatch quarantine replay`):
// read from the quarantine of a lake (local files or S3), optionally transformed by a jq program
// (gojq), and submitted as the devices would have sent them (MQTT to a local run's broker, or
// Kinesis PutRecords on AWS). The pipeline validates them again: what still fails is quarantined
// again, with the reason the decoder gives it now.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/itchyny/gojq"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Source is a lake's quarantine: its objects by arrival hour.
type Source interface {
	// Objects lists the keys of the quarantine objects of the arrival hours from `from` up to
	// `to`, oldest first.
	Objects(ctx context.Context, from, to time.Time) ([]string, error)
	Read(ctx context.Context, key string) ([]byte, error)
}

// Record is one quarantined record, and where it is.
type Record struct {
	Key  string // the object
	Line int    // its line in the object, from 1
	lake.Rejected
}

// Filter chooses records.
type Filter struct {
	From, To time.Time // arrival hours
	Reason   string    // "" for every reason
	Device   string    // "" for every device
}

// Read reads the records of the filter's hours, oldest object first.
func Read(ctx context.Context, src Source, f Filter) ([]Record, error) {
	keys, err := src.Objects(ctx, f.From, f.To)
	if err != nil {
		return nil, fmt.Errorf("listing the quarantine: %w", err)
	}
	var out []Record
	for _, k := range keys {
		body, err := src.Read(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for line := 1; sc.Scan(); line++ {
			var r lake.Rejected
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, fmt.Errorf("%s:%d: not a quarantine record: %w", k, line, err)
			}
			if f.Reason != "" && r.Reason != f.Reason || f.Device != "" && deviceOf(r.TopicDevice, r.DataBase64) != f.Device {
				continue
			}
			if !r.ArrivalTime.IsZero() && (r.ArrivalTime.Before(f.From) || !r.ArrivalTime.Before(f.To)) {
				continue
			}
			out = append(out, Record{Key: k, Line: line, Rejected: r})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
	}
	return out, nil
}

// Fix is a jq program that turns a quarantined message into the one to send: its input is the
// message parsed as JSON (numbers kept digit for digit), or, when it is not JSON, the message as
// a JSON string (so that `sub(";"; ",") | fromjson` can mend it). Its output is sent: a string as
// its text, anything else as JSON. `empty` leaves the record in quarantine; null, or more than
// one output, is an error. A program gets FixTimeout a message.
type Fix struct {
	code    *gojq.Code
	text    string
	Timeout time.Duration // a message's; FixTimeout unless set
}

// CompileFix compiles a jq program.
func CompileFix(program string) (*Fix, error) {
	q, err := gojq.Parse(program)
	if err != nil {
		return nil, fmt.Errorf("--fix %q: %w", program, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("--fix %q: %w", program, err)
	}
	return &Fix{code: code, text: program, Timeout: FixTimeout}, nil
}

// maxFixSteps is how many outputs Apply reads: two tell "more than one".
const maxFixSteps = 2

// FixTimeout bounds one message's program (a runaway one, `def f: f; f`, is stopped).
const FixTimeout = 5 * time.Second

// Apply runs the program on one message: its output, or keep=false for `empty`.
func (f *Fix) Apply(ctx context.Context, data []byte) (out []byte, keep bool, err error) {
	var in any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // 12345678901234567890 stays itself, not a float64
	if dec.Decode(&in) != nil || dec.More() {
		in = string(data)
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	iter := f.code.RunWithContext(ctx, in)
	var outs []any
	for len(outs) < maxFixSteps {
		v, ok := iter.Next()
		if !ok {
			break
		}
		if e, isErr := v.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(e, &halt) && halt.Value() == nil {
				break
			}
			return nil, false, fmt.Errorf("the fix failed: %w", e)
		}
		outs = append(outs, v)
	}
	switch len(outs) {
	case 0:
		return nil, false, nil
	case 1:
		switch v := outs[0].(type) {
		case nil:
			return nil, false, errors.New("the fix gave null: give the message, or empty to leave it")
		case string:
			return []byte(v), true, nil
		}
		b, err := gojq.Marshal(outs[0])
		return b, err == nil, err
	}
	return nil, false, errors.New("the fix gave more than one output: it must give one message, or empty")
}

// Message is one message to send, from the record it came from.
type Message struct {
	Device string
	Data   []byte
	From   *Record
}

// Skipped is a record that is not sent, and why.
type Skipped struct {
	Record *Record
	Why    string
}

// Plan is what a replay sends, and what it leaves in quarantine.
type Plan struct {
	Send []Message
	Skip []Skipped
}

// Prepare applies the fix (nil: none) to each record. A record whose device cannot be known
// (neither its topic nor its message names a valid one) is left, and so is one the fix leaves
// out or fails on.
func Prepare(ctx context.Context, recs []Record, fix *Fix) Plan {
	var p Plan
	for i := range recs {
		r := &recs[i]
		data := r.DataBase64
		if fix != nil {
			out, keep, err := fix.Apply(ctx, data)
			if err != nil {
				p.Skip = append(p.Skip, Skipped{r, err.Error()})
				continue
			}
			if !keep {
				p.Skip = append(p.Skip, Skipped{r, "the fix gave no output (empty)"})
				continue
			}
			data = out
		}
		dev := deviceOf(r.TopicDevice, data)
		if dev == "" {
			p.Skip = append(p.Skip, Skipped{r, "no valid device id: neither the topic nor the message names one"})
			continue
		}
		p.Send = append(p.Send, Message{Device: dev, Data: data, From: r})
	}
	return p
}

// deviceOf is the device a message goes out as: the topic's, or its own device_id.
func deviceOf(topicDevice string, data []byte) string {
	if reading.ValidDeviceID(topicDevice) {
		return topicDevice
	}
	var m struct {
		DeviceID string `json:"device_id"`
	}
	if json.Unmarshal(data, &m) == nil && reading.ValidDeviceID(m.DeviceID) {
		return m.DeviceID
	}
	return ""
}

// Sink submits messages to the stream: all of them, or an error that says how many went.
type Sink interface {
	Send(ctx context.Context, msgs []Message) (sent int, err error)
}

// Text is a message as people read it on a terminal: the text when it is UTF-8 (control
// characters escaped, so that a device's bytes cannot move the cursor or end the line), at
// most max characters; its size otherwise.
func Text(data []byte, max int) string {
	if !utf8.Valid(data) {
		return fmt.Sprintf("(%d bytes, not text)", len(data))
	}
	var b strings.Builder
	n := 0
	for _, r := range string(data) {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
		} else {
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// Listing writes one line per record: arrival, reason, device, size, detail, text.
func Listing(w io.Writer, recs []Record) error {
	for _, r := range recs {
		if _, err := fmt.Fprintf(w, "%s  %-20s %-16s %6d B  %s  %s\n", r.ArrivalTime.UTC().Format(time.RFC3339), r.Reason,
			orDash(deviceOf(r.TopicDevice, r.DataBase64)), len(r.DataBase64), Text([]byte(r.Detail), 120), Text(r.DataBase64, 80)); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
