package lakefiles

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
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
// the SNS topic's subscriptions do on AWS.
type Publisher struct {
	mu     sync.Mutex
	out    io.Writer
	alerts *Writer
}

var _ evaluator.Publisher = (*Publisher)(nil)

// NewPublisher prints to out (nil: nowhere) and writes through alerts.
func NewPublisher(out io.Writer, alerts *Writer) *Publisher {
	if out == nil {
		out = io.Discard
	}
	return &Publisher{out: out, alerts: alerts}
}

// Publish implements evaluator.Publisher. An alert is published once it is written to the lake
// (not merely buffered): the evaluation records the state that raised it right after, and a
// process killed in between must not leave a state whose alert exists nowhere. So each call ends
// with a write of the alerts it took; one that fails takes back the alerts of the call.
func (p *Publisher) Publish(_ context.Context, notices []evaluator.Notice) []error {
	errs := make([]error, len(notices))
	p.mu.Lock()
	defer p.mu.Unlock()
	var taken []int
	for i := range notices {
		a := &notices[i].Alert
		b, err := a.MarshalJSON() // directly: json.Marshal would check and compact it again
		if err == nil {
			err = p.alerts.AddAt(b, a.AlertTime.UTC().Truncate(time.Hour))
		}
		if err != nil {
			errs[i] = fmt.Errorf("landing alert %s: %w", a.AlertID, err)
			continue
		}
		taken = append(taken, i)
	}
	if len(taken) > 0 {
		if err := p.alerts.Flush(); err != nil {
			p.alerts.Discard()
			for _, i := range taken {
				errs[i] = fmt.Errorf("landing alert %s: %w", notices[i].Alert.AlertID, err)
			}
			return errs
		}
	}
	for _, i := range taken {
		a := &notices[i].Alert
		if a.Kind == alert.Digest {
			_, _, sms := notices[i].Presentation().DigestTexts(a, notices[i].Held, func(id string) string { return id })
			fmt.Fprintf(p.out, "DIGEST %s user=%s %s\n", a.AlertTime.UTC().Format(time.RFC3339), a.UserID, sms)
			continue
		}
		label := notices[i].Device.Label()
		if notices[i].Device.ID == "" {
			label = a.DeviceID // a person's action: the row names its device only
		}
		if a.Metric == "" && a.Kind != alert.Open && a.Kind != alert.Escalate && a.Kind != alert.Remind && a.Kind != alert.Resolve {
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
