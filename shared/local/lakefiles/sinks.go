package lakefiles

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Quarantine writes rejected records under root/quarantine/dt=…/hour=…/, one object per batch
// and arrival hour, as the S3 quarantine does.
type Quarantine struct{ root string }

var _ evaluator.Quarantine = (*Quarantine)(nil)

// NewQuarantine writes under root.
func NewQuarantine(root string) *Quarantine { return &Quarantine{root: root} }

// Put implements evaluator.Quarantine.
func (q *Quarantine) Put(_ context.Context, batchKey string, recs []lake.Rejected) error {
	objects, err := lake.QuarantineObjects(batchKey, recs, time.Now())
	if err != nil {
		return err
	}
	for key, body := range objects {
		path := filepath.Join(q.root, filepath.FromSlash(key))
		if err := durable.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := durable.WriteFile(path, body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Publisher prints each alert as a readable line and lands its JSON in the lake's alerts/, as
// the SNS topic's subscriptions do on AWS. The lake keeps one row per alert id: an alert whose id
// is already in its hour's files is not written again (DESIGN.md, "One row per alert id"), and
// printed again only when this process did not print it (it was landed before a restart, and
// people may not have seen it).
type Publisher struct {
	mu     sync.Mutex
	out    io.Writer
	alerts *Writer
	// landed holds the ids in the alerts files of recently published hours, read from the files
	// the first time an hour is published to (so a restart knows them too), then kept up to date.
	landed map[time.Time]*hourIDs
	uses   int64 // a clock for landed's least recently used hour
}

// hourIDs are the alert ids of one hour's files.
type hourIDs struct {
	ids     map[string]bool // true: landed and printed by this process; false: found in the files
	lastUse int64
}

// MaxLandedHours bounds how many hours' ids a Publisher keeps in memory; one it let go of is read
// from its files again when an alert of that hour comes.
const MaxLandedHours = 48

var _ evaluator.Publisher = (*Publisher)(nil)

// NewPublisher prints to out (nil: nowhere) and writes through alerts.
func NewPublisher(out io.Writer, alerts *Writer) *Publisher {
	if out == nil {
		out = io.Discard
	}
	return &Publisher{out: out, alerts: alerts, landed: map[time.Time]*hourIDs{}}
}

// Publish implements evaluator.Publisher. An alert is published once it is written to the lake
// (not merely buffered): the evaluation records the state that raised it right after, and a
// process killed in between must not leave a state whose alert exists nowhere. So each call ends
// with a write of the alerts it took; an alert whose hour's write fails is refused (the hours
// written keep theirs, and say so: the retry finds them landed and writes them no second time).
func (p *Publisher) Publish(_ context.Context, notices []evaluator.Notice) []error {
	errs := make([]error, len(notices))
	p.mu.Lock()
	defer p.mu.Unlock()
	var taken, landed []int
	for i := range notices {
		a := &notices[i].Alert
		hour := a.AlertTime.UTC().Truncate(time.Hour)
		ids, err := p.hour(hour)
		if err != nil {
			errs[i] = fmt.Errorf("landing alert %s: %w", a.AlertID, err)
			continue
		}
		if printed, ok := ids[a.AlertID]; ok { // a retry of one already in the lake
			if !printed {
				landed = append(landed, i)
			}
			continue
		}
		b, err := a.MarshalJSON() // directly: json.Marshal would check and compact it again
		if err == nil {
			err = p.alerts.AddAt(b, hour)
		}
		if err != nil {
			errs[i] = fmt.Errorf("landing alert %s: %w", a.AlertID, err)
			continue
		}
		taken = append(taken, i)
	}
	if len(taken) > 0 {
		var flushErr error
		if flushErr = p.alerts.Flush(); flushErr != nil {
			// The hours written keep their alerts; the others' are taken back, refused.
			for _, i := range taken {
				if p.alerts.buffered(notices[i].Alert.AlertTime.UTC().Truncate(time.Hour)) {
					errs[i] = fmt.Errorf("landing alert %s: %w", notices[i].Alert.AlertID, flushErr)
				}
			}
			p.alerts.Discard()
		}
		for _, i := range taken {
			if errs[i] == nil {
				landed = append(landed, i)
			}
		}
	}
	slices.Sort(landed)
	for _, i := range landed {
		a := &notices[i].Alert
		if h, ok := p.landed[a.AlertTime.UTC().Truncate(time.Hour)]; ok { // else let go of: read again when needed
			h.ids[a.AlertID] = true
		}
		if a.Kind == alert.Digest {
			_, _, sms := notices[i].Presentation().DigestTexts(a, notices[i].Held, func(id string) string { return id })
			fmt.Fprintf(p.out, "DIGEST %s user=%s %s\n", a.AlertTime.UTC().Format(time.RFC3339), a.UserID, sms)
			continue
		}
		label := notices[i].Device.Label()
		if notices[i].Device.ID == "" {
			label = a.DeviceID // a person's action: the row names its device only
		}
		if a.Metric == "" && !slices.Contains(alert.Kinds, a.Kind) {
			// what a person did (ACK, SNOOZE, UNSNOOZE): no value or threshold to show
			until := ""
			if a.Kind == "SNOOZE" {
				until = " until " + time.UnixMilli(a.WindowEndMs).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(p.out, "ACTION %s %-8s %-9s %-18s %-12s user=%s%s via %s\n", a.AlertTime.UTC().Format(time.RFC3339),
				a.Kind, a.Severity, a.Rule, label, a.UserID, until, a.Via)
			continue
		}
		held := ""
		if a.Suppressed != "" {
			held = " (held: " + string(a.Suppressed) + ")" // stored, not sent
		}
		fmt.Fprintf(p.out, "ALERT %s %-8s %-9s %-18s %-12s user=%s %s=%s threshold=%s%s\n", a.AlertTime.UTC().Format(time.RFC3339),
			a.Kind, a.Severity, a.Rule, label, a.UserID, a.Metric, a.ObservedValue, a.ThresholdValue, held)
		if l := notices[i].AckLink; l != "" && a.Suppressed == "" {
			fmt.Fprintf(p.out, "      acknowledge: %s  snooze 1 h: %s\n", l, notices[i].SnoozeLink)
		}
	}
	return errs
}

// hour returns the ids of the alerts in hour's files (p.mu held), reading them the first time.
func (p *Publisher) hour(hour time.Time) (map[string]bool, error) {
	p.uses++
	if h, ok := p.landed[hour]; ok {
		h.lastUse = p.uses
		return h.ids, nil
	}
	ids, err := p.alerts.ids(hour)
	if err != nil {
		return nil, err
	}
	for id := range ids {
		ids[id] = false // in the files; not printed by this process
	}
	if len(p.landed) >= MaxLandedHours {
		var oldest time.Time
		for k, h := range p.landed {
			if oldest.IsZero() || h.lastUse < p.landed[oldest].lastUse {
				oldest = k
			}
		}
		delete(p.landed, oldest)
	}
	p.landed[hour] = &hourIDs{ids: ids, lastUse: p.uses}
	return ids, nil
}
