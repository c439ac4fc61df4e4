// Package backtest runs the hot path's core offline: readings (JSON lines or the occupancy CSV)
// through the same decoder and alarm state machine the evaluate function uses, in file order, each
// device with its own state, and reports the alerts in the order they arise.
package backtest

import (
	"bufio"
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/tools/occupancy"
)

// Message is one input message and where it came from.
type Message struct {
	Data []byte
	Line int
	// Size, when larger than len(Data), is the size of a message too large to be kept whole
	// (Data is its start): it is rejected as too_large.
	Size int
}

// Source yields messages in order; Next returns io.EOF at the end. A returned error other than
// io.EOF stops the run (the input itself is unreadable).
type Source interface {
	Next() (Message, error)
}

// Rejected is a message the decoder refused, or an element of a batched message.
type Rejected struct {
	Line      int
	Element   int // the element's index in a batched message; -1: the message whole
	Rejection *reading.Rejection
}

// Summary counts what a run saw.
type Summary struct {
	Messages, Readings, Late, Duplicates, Alerts int
	Rejected                                     map[reading.Reason]int
	Devices                                      int
}

// Options tune a run.
type Options struct {
	// Until is where the clock of the silence rule ends up after the last message (DESIGN.md,
	// "device_silent": a backtest's clock is the largest event time applied so far); zero means
	// that largest time.
	Until time.Time
	// Rules are the long form's rows (every scope), beside the configs; Devices the devices'
	// metadata (their locations decide which location rows apply).
	Rules   []rule.Row
	Devices map[string]device.Device
	// Catalog declares metrics beyond the built-ins (nil: none): readings are decoded and rules
	// judged with it.
	Catalog *reading.Catalog
}

// Run applies every message of src under configs, calling alert for each alert as it arises and
// reject for each refused message. It stops at the first error of src, alert or reject.
//
// The clock of the silence rule is the largest event time applied so far over every device: it
// moves before a reading is applied, so a reading after a long gap first opens its device's
// silence and then resolves it, and the opens due at one step come before that reading's alerts.
func Run(configs []threshold.Config, src Source, opts Options, onAlert func(alert.Alert) error, onReject func(Rejected) error) (Summary, error) {
	rows := versioned(opts.Rules) // once, for every device
	byDevice := map[string][]threshold.Config{}
	for _, c := range configs {
		if c.Version == 0 {
			c.Version = 1 // as a first put of the file stores it
		}
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	sum := Summary{Rejected: map[reading.Reason]int{}}
	devices := map[string]*alarm.Device{}
	var due dueQueue
	var clock time.Time
	dec := reading.Decoder{Catalog: opts.Catalog}
	var emitErr error
	emit := func(a alert.Alert) {
		sum.Alerts++
		if emitErr == nil {
			emitErr = onAlert(a)
		}
	}
	// apply applies one reading; the silence rule's clock moves first.
	apply := func(r *reading.Reading) error {
		sum.Readings++
		d := devices[r.DeviceID]
		if d == nil {
			if len(opts.Rules) == 0 {
				d = alarm.NewDevice(&alarm.DeviceState{}, byDevice[r.DeviceID])
			} else {
				info := opts.Devices[r.DeviceID]
				info.ID = r.DeviceID
				in := rule.Resolve(append(rule.FromConfigs(byDevice[r.DeviceID]), rows...), info)
				d = alarm.NewRules(&alarm.DeviceState{}, r.DeviceID, in, opts.Catalog)
			}
			devices[r.DeviceID] = d
		}
		if d.Accepts(r) && r.EventTime.After(clock) {
			clock = r.EventTime
			due.advance(clock, emit)
		}
		switch d.Apply(r, emit) {
		case alarm.Late:
			sum.Late++
		case alarm.Duplicate:
			sum.Duplicates++
		default:
			due.watch(d)
		}
		return emitErr
	}
	var readings []reading.Reading
	for {
		m, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Messages++
		readings = readings[:0]
		var bad []reading.ElementRejection
		if m.Size > len(m.Data) {
			err = &reading.Rejection{Reason: reading.TooLarge, Detail: fmt.Sprintf("message is %d bytes, the limit is %d", m.Size, reading.MaxSize)}
		} else {
			readings, bad, err = dec.DecodeMessage(m.Data, reading.Options{}, readings)
		}
		if err != nil {
			var rej *reading.Rejection
			if !errors.As(err, &rej) {
				return sum, err
			}
			bad = []reading.ElementRejection{{Index: -1, Rejection: *rej}}
		}
		for _, e := range bad { // a batch's bad elements, each alone (Element: its index)
			sum.Rejected[e.Reason]++
			if err := onReject(Rejected{Line: m.Line, Element: e.Index, Rejection: &e.Rejection}); err != nil {
				return sum, err
			}
		}
		for i := range readings {
			if err := apply(&readings[i]); err != nil {
				return sum, err
			}
		}
	}
	if opts.Until.After(clock) {
		clock = opts.Until
	}
	due.advance(clock, emit)
	sum.Devices = len(devices)
	return sum, emitErr
}

// dueQueue orders the devices by the time their next silence or silence reminder falls due, so
// that moving the clock costs what is due, not the number of devices. An entry is stale when its
// device's NextDue has moved since it was pushed; stale entries are skipped.
type dueQueue struct {
	h     dueHeap
	order map[*alarm.Device]int // first-seen order: ties in time come out in input order
}

type dueEntry struct {
	at    time.Time
	order int
	dev   *alarm.Device
}

type dueHeap []dueEntry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].order < h[j].order
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// watch (re)schedules d after its state changed.
func (q *dueQueue) watch(d *alarm.Device) {
	if q.order == nil {
		q.order = map[*alarm.Device]int{}
	}
	o, ok := q.order[d]
	if !ok {
		o = len(q.order)
		q.order[d] = o
	}
	if at, ok := d.NextDue(); ok {
		heap.Push(&q.h, dueEntry{at: at, order: o, dev: d})
	}
}

// advance moves every device whose silence or reminder is due by clock.
func (q *dueQueue) advance(clock time.Time, emit func(alert.Alert)) {
	for q.h.Len() > 0 && !q.h[0].at.After(clock) {
		e := heap.Pop(&q.h).(dueEntry)
		if at, ok := e.dev.NextDue(); !ok || !at.Equal(e.at) {
			continue // stale: the device moved on since
		}
		e.dev.Advance(clock, emit)
		q.watch(e.dev)
	}
}

// Lines reads JSON lines (blank lines are skipped); name is used in errors. A line of any length
// is read: one longer than reading.MaxSize keeps only its start and is rejected as too_large,
// the rest of the file goes on. A byte order mark before the first line is dropped.
type Lines struct {
	r    *bufio.Reader
	name string
	line int
	buf  []byte
}

// NewLines reads r as JSON lines.
func NewLines(r io.Reader, name string) *Lines {
	return &Lines{r: bufio.NewReaderSize(r, 64*1024), name: name}
}

// Next implements Source.
func (l *Lines) Next() (Message, error) {
	for {
		l.buf = l.buf[:0]
		size := 0
		var last []byte
		var err error
		for {
			var chunk []byte
			chunk, err = l.r.ReadSlice('\n')
			size += len(chunk)
			if room := reading.MaxSize + 1 - len(l.buf); room > 0 {
				l.buf = append(l.buf, chunk[:min(len(chunk), room)]...)
			}
			last = chunk
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return Message{}, fmt.Errorf("%s:%d: %w", l.name, l.line+1, err)
		}
		if size == 0 {
			return Message{}, io.EOF
		}
		l.line++
		switch { // the line end is not part of the message
		case bytes.HasSuffix(last, []byte("\r\n")):
			size -= 2
		case bytes.HasSuffix(last, []byte("\n")):
			size--
		}
		data := l.buf[:min(len(l.buf), size)]
		if l.line == 1 && bytes.HasPrefix(data, []byte("\ufeff")) {
			data, size = data[3:], size-3
		}
		if size == 0 {
			continue
		}
		return Message{Data: data, Line: l.line, Size: size}, nil
	}
}

// CSV reads the occupancy format as one device's readings.
type CSV struct{ r *occupancy.Reader }

// NewCSV reads r (named name) as readings of device.
func NewCSV(r io.Reader, name, device string) *CSV {
	return &CSV{r: occupancy.NewReader(r, name, device)}
}

// Next implements Source.
func (c *CSV) Next() (Message, error) {
	row, err := c.r.Next()
	if err != nil {
		return Message{}, err
	}
	return Message{Data: row.Message, Line: row.Line}, nil
}

// versioned gives rows without a version the version a first put of the file stores (1).
func versioned(rows []rule.Row) []rule.Row {
	out := make([]rule.Row, len(rows))
	for i, r := range rows {
		if r.Version == 0 {
			r.Version = 1
		}
		out[i] = r
	}
	return out
}
