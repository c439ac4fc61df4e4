// Package snsalerts publishes alerts to the alerts SNS topic with PublishBatch, ten a call. Each
// message carries the alert JSON as its default body, a readable email body and subject, an SMS
// text of at most 140 characters, for Lambda subscribers (the notify function) the alert with what
// its texts need (ForLambda), and the message attributes user_id, device_id, rule, severity
// and kind, on which each user's subscription filters, and suppressed and episode_start_ms, which
// the notify function's subscription and its PagerDuty events use.
package snsalerts

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"golang.org/x/sync/errgroup"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// EpisodeStartAttr is the message attribute of the episode's start (Unix ms,
// evaluator.Notice.EpisodeStartMs), set when it is known.
const EpisodeStartAttr = "episode_start_ms"

// BatchSize is the most entries SNS takes in one PublishBatch.
const BatchSize = 10

// Client is the part of the SNS API the publisher uses.
type Client interface {
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, opts ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// Publisher publishes alerts to one topic.
type Publisher struct {
	client   Client
	topicARN string
	// Retry is how entries SNS failed without blaming the sender are published again: 3
	// attempts an entry, the first wait 50 ms.
	awsclient.Retry
	// Concurrency bounds parallel PublishBatch calls.
	Concurrency int
}

var _ evaluator.Publisher = (*Publisher)(nil)

// New returns a publisher to topicARN.
func New(client Client, topicARN string) *Publisher {
	return &Publisher{client: client, topicARN: topicARN, Retry: awsclient.Retry{Attempts: 3, Backoff: 50 * time.Millisecond}, Concurrency: 4}
}

// MaxMessage is the most bytes Message lets a message structure take: SNS takes a message of
// 256 KiB with its attributes and subject, which take a few hundred bytes.
const MaxMessage = 256*1024 - 4*1024

// Message renders the JSON message structure of a notice: default (the alert JSON), email, sms,
// and lambda (ForLambda: what the notify function needs to write the alert's texts). A digest
// too large for MaxMessage lists fewer of its alerts in the lambda entry (the most telling
// first, alert.DigestOrder), down to none: the e-mail lists them all.
func Message(n *evaluator.Notice) (string, error) {
	_, msg, err := message(n)
	return msg, err
}

// message is Message with the notice's subject, its texts made once.
func message(n *evaluator.Notice) (subject, msg string, err error) {
	body, err := json.Marshal(n.Alert)
	if err != nil {
		return "", "", fmt.Errorf("encoding alert %s: %w", n.Alert.AlertID, err)
	}
	subject, email, sms := texts(n)
	render := func(l ForLambda) (string, error) {
		forLambda, err := withExtras(body, l.LambdaExtras) // the alert's JSON made once
		if err != nil {
			return "", fmt.Errorf("encoding alert %s for the notify function: %w", n.Alert.AlertID, err)
		}
		msg, err := json.Marshal(map[string]string{
			"default": string(body),
			"email":   email,
			"sms":     sms,
			"lambda":  string(forLambda),
		})
		return string(msg), err
	}
	l := lambdaMessage(n)
	msg, err = render(l)
	if err != nil || len(msg) <= MaxMessage || len(l.Held) == 0 {
		return subject, msg, err
	}
	held := alert.DigestOrder(l.Held)
	lo, hi := 0, len(held) // the most alerts that fit: fewer than hi, at least lo (0 if none)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		l.Held = held[:mid]
		if m, err := render(l); err != nil {
			return "", "", err
		} else if len(m) <= MaxMessage {
			lo = mid
		} else {
			hi = mid
		}
	}
	l.Held = held[:lo]
	msg, err = render(l)
	return subject, msg, err
}

// ForLambda is the message the topic's Lambda subscribers get (the "lambda" entry of the message
// structure: the notify function): the alert's JSON, its fields where they are, and beside them
// what the alert's texts need that the alert does not carry, so that Slack, Teams and PagerDuty
// read what the e-mail and the SMS read (the device's name and location, the one-click links, the
// reader's units and time zone, a digest's alerts). A reader of the alert alone (the notify
// function of the version before, during a deploy) reads it as the alert. Every other subscriber
// gets the alert's JSON (default); a webhook's body is the alert's JSON too.
type ForLambda struct {
	Alert alert.Alert `json:"-"`
	LambdaExtras
}

// LambdaExtras are ForLambda's fields beside the alert's (none of an alert's names).
type LambdaExtras struct {
	DeviceName     string `json:"device_name,omitempty"`
	Location       string `json:"location,omitempty"`
	EpisodeStartMs int64  `json:"episode_start_ms,omitempty"`
	AckLink        string `json:"ack_link,omitempty"`
	SnoozeLink     string `json:"snooze_link,omitempty"`
	// Held are a digest's alerts: all of them (at most evaluator.MaxDigestAlerts), or as many as
	// fit the message (its observed_value counts them all).
	Held     []alert.Alert    `json:"held,omitempty"`
	Units    alert.UnitSystem `json:"units,omitempty"`     // the reader's ("": metric)
	TimeZone string           `json:"time_zone,omitempty"` // the reader's, an IANA name ("": UTC)
	// MetricUnits are the units of the declared metrics the alert (and a digest's alerts) name,
	// from the catalog the evaluator judged them with.
	MetricUnits map[string]string `json:"metric_units,omitempty"`
}

// MarshalJSON writes the alert's JSON with the extras' fields after its own.
func (l ForLambda) MarshalJSON() ([]byte, error) {
	a, err := json.Marshal(l.Alert)
	if err != nil {
		return nil, err
	}
	return withExtras(a, l.LambdaExtras)
}

// withExtras is an alert's JSON (an object) with x's fields after its own; alertJSON is not
// changed.
func withExtras(alertJSON []byte, x LambdaExtras) ([]byte, error) {
	xj, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	if len(xj) <= 2 { // {}: nothing beside the alert
		return alertJSON, nil
	}
	out := make([]byte, 0, len(alertJSON)+len(xj))
	return append(append(append(out, alertJSON[:len(alertJSON)-1]...), ','), xj[1:]...), nil
}

// UnmarshalJSON reads the alert and its extras (none: the alert's JSON alone).
func (l *ForLambda) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &l.Alert); err != nil {
		return err
	}
	return json.Unmarshal(b, &l.LambdaExtras)
}

func lambdaMessage(n *evaluator.Notice) ForLambda {
	m := ForLambda{Alert: n.Alert, LambdaExtras: LambdaExtras{DeviceName: n.Device.Name, Location: n.Device.Location,
		EpisodeStartMs: n.EpisodeStartMs, AckLink: n.AckLink, SnoozeLink: n.SnoozeLink, Held: n.Held}}
	if n.User != nil {
		m.Units = n.User.Units
		if n.User.Zone != nil && n.User.Zone != time.UTC {
			m.TimeZone = n.User.Zone.String()
		}
	}
	if n.Catalog != nil {
		for _, a := range append([]alert.Alert{n.Alert}, n.Held...) {
			if name := a.Metric; name != "" && !reading.Builtin(name) {
				if u := n.Catalog.Unit(name); u != "" {
					if m.MetricUnits == nil {
						m.MetricUnits = map[string]string{}
					}
					m.MetricUnits[name] = u
				}
			}
		}
	}
	return m
}

// texts are a notice's subject, email body and SMS, in its user's units and time zone: an
// alert's, or a digest's (which lists the alerts it summarizes).
func texts(n *evaluator.Notice) (subject, email, sms string) {
	p := n.Presentation()
	if n.Alert.Kind == alert.Digest {
		return p.DigestTexts(&n.Alert, n.Held, func(id string) string { return id })
	}
	return p.Subject(&n.Alert, n.Device), alert.WithLinks(p.Email(&n.Alert, n.Device), n.AckLink, n.SnoozeLink),
		alert.SMSWithLink(p.SMS(&n.Alert, n.Device), n.AckLink)
}

func entry(id string, n *evaluator.Notice) (types.PublishBatchRequestEntry, error) {
	subject, msg, err := message(n)
	if err != nil {
		return types.PublishBatchRequestEntry{}, err
	}
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range n.Alert.Attributes() {
		attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	// The episode's start, when the evaluator knows it: the notify function's PagerDuty dedup key
	// of an ESCALATE (whose own window is its VIOLATION run) needs it.
	if n.EpisodeStartMs != 0 {
		attrs[EpisodeStartAttr] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatInt(n.EpisodeStartMs, 10))}
	}
	return types.PublishBatchRequestEntry{
		Id:                aws.String(id),
		Message:           aws.String(msg),
		MessageStructure:  aws.String("json"),
		Subject:           aws.String(subject),
		MessageAttributes: attrs,
	}, nil
}

// Publish sends the notices in batches of ten; the result has one entry per notice, nil where SNS
// accepted it. Entries SNS failed through no fault of the sender are retried with backoff.
func (p *Publisher) Publish(ctx context.Context, notices []evaluator.Notice) []error {
	errs := make([]error, len(notices))
	var g errgroup.Group
	g.SetLimit(max(1, p.Concurrency))
	for start := 0; start < len(notices); start += BatchSize {
		end := min(start+BatchSize, len(notices))
		g.Go(func() error {
			p.publishChunk(ctx, notices[start:end], errs[start:end])
			return nil
		})
	}
	_ = g.Wait() // every chunk's errors are in errs; the funcs return nil
	return errs
}

// publishChunk publishes up to ten notices, setting each one's error. An entry SNS failed
// without blaming the sender is published again (p.Retry); one it blamed the sender for, or left
// out of its answer, is not. A failed call is not either: the SDK already retried it.
func (p *Publisher) publishChunk(ctx context.Context, notices []evaluator.Notice, errs []error) {
	index := map[string]int{} // entry id -> notice
	var entries []types.PublishBatchRequestEntry
	for i := range notices {
		id := strconv.Itoa(i)
		e, err := entry(id, &notices[i])
		if err != nil {
			errs[i] = err
			continue
		}
		index[id] = i
		entries = append(entries, e)
	}
	left, err := awsclient.RetryRefused(ctx, p.Retry, "SNS", p.topicARN, entries, func(ctx context.Context, pending []types.PublishBatchRequestEntry) ([]types.PublishBatchRequestEntry, string, error) {
		out, err := p.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &p.topicARN, PublishBatchRequestEntries: pending})
		if err != nil {
			return nil, "", fmt.Errorf("publishing to %s: %w", p.topicARN, err)
		}
		byID := map[string]types.PublishBatchRequestEntry{}
		for _, e := range pending {
			byID[*e.Id] = e
			// Published only if SNS says so: an entry missing from both Successful and Failed
			// is not (and is retried with its device, as a failure).
			errs[index[*e.Id]] = fmt.Errorf("SNS answered without entry %s of the batch", *e.Id)
		}
		for _, s := range out.Successful {
			if _, ok := byID[aws.ToString(s.Id)]; ok {
				errs[index[aws.ToString(s.Id)]] = nil
			}
		}
		var refused []types.PublishBatchRequestEntry
		var last string
		for _, f := range out.Failed {
			id := aws.ToString(f.Id)
			if _, ok := byID[id]; !ok {
				continue // not an entry of this request
			}
			errs[index[id]] = fmt.Errorf("SNS refused alert (code %s, sender fault %v): %s", aws.ToString(f.Code), f.SenderFault, aws.ToString(f.Message))
			if !f.SenderFault {
				refused = append(refused, byID[id])
				last = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
			}
		}
		return refused, last, nil
	})
	for _, e := range left { // still refused (a *awsclient.RefusedError), the call failed, or ctx ended
		errs[index[*e.Id]] = err
	}
}
