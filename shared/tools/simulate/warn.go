package simulate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// OldAfter is how old a reading's event_time may be before Warnings says a run on the wall clock
// will find its device silent.
const OldAfter = time.Hour

// Warnings passes the messages through and says, once each, when what is sent will be refused
// ("warning: ...") or misread by a pipeline on the wall clock ("note: ..."): event times more than reading.MaxFutureSkew ahead of
// the clock (refused as future_event_time), or older than OldAfter (accepted, but every device
// looks silent on the wall clock). It looks at the first reading and then at one a second.
type Warnings struct {
	Source
	// Warn receives each warning.
	Warn func(string)
	// Now is the clock (time.Now when nil).
	Now                  func() time.Time
	next                 time.Time
	warnedOld, warnedNew bool
}

// Next implements Source.
func (w *Warnings) Next() (Message, error) {
	m, err := w.Source.Next()
	if err != nil {
		return m, err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if t := now(); !t.Before(w.next) {
		if at, ok := eventTime(m.Payload); ok {
			w.next = t.Add(time.Second)
			w.check(at, t)
		}
	}
	return m, nil
}

func (w *Warnings) check(at, now time.Time) {
	switch ahead := at.Sub(now); {
	case ahead > reading.MaxFutureSkew && !w.warnedNew:
		w.warnedNew = true
		w.Warn(fmt.Sprintf("warning: event times run %s ahead of this clock (a reading at %s): the pipeline refuses readings over %s ahead as %s",
			ahead.Round(time.Second), at.UTC().Format(time.RFC3339), reading.MaxFutureSkew, reading.FutureEventTime))
	case -ahead > OldAfter && !w.warnedOld:
		w.warnedOld = true
		w.Warn(fmt.Sprintf("note: the readings are from %s, %s old: right for a run with --clock watermark (a recording replayed, as make run does); "+
			"a run on the wall clock (the default) would find their devices silent: send with --rebase to play them as live", at.UTC().Format(time.RFC3339), age(-ahead)))
	}
}

// age says a duration in days when it is over two days.
func age(d time.Duration) string {
	if d > 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

// eventTime is the event_time of a message (its first element's, batched), when readable.
func eventTime(payload []byte) (time.Time, bool) {
	var m struct {
		EventTime json.RawMessage `json:"event_time"`
		Readings  []struct {
			EventTime json.RawMessage `json:"event_time"`
		} `json:"readings"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return time.Time{}, false
	}
	raw := m.EventTime
	if raw == nil && len(m.Readings) > 0 {
		raw = m.Readings[0].EventTime
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	return reading.ParseTime([]byte(s))
}
