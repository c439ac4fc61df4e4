// Package notifylambda is the notify function's logic (issue 25): SNS delivers each alert of the
// alerts topic to the function (its subscription filters out the suppressed alerts but RESOLVE,
// which may still resolve a PagerDuty incident), which reads the alert's user's channels from the
// table (cached, at most table.ChannelsCacheBound), opens their targets with the channels KMS
// key, and delivers with shared/service/notify. Email and SMS channels are skipped: they are SNS
// subscriptions of the topic already. What cannot be delivered goes to an SQS dead letter with
// the reason (SQSDeadLetter); the counters per channel kind are written as EMF metrics after each
// invocation.
package notifylambda

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// EpisodeStartAttr is the SNS message attribute of the episode's start (Unix ms) that
// snsalerts sets from evaluator.Notice.EpisodeStartMs: PagerDuty's dedup key of an ESCALATE needs
// it.
const EpisodeStartAttr = snsalerts.EpisodeStartAttr

// MaxDelay caps the notifier's backoff and any Retry-After in the function (notify's default is
// 5 min): with 5 tries of at most 10 s and 4 waits of at most 30 s, a message is delivered or
// dead-lettered within 5·10 + 4·30 = 170 s, under the function's timeout (TimeoutSeconds).
const MaxDelay = 30 * time.Second

// TimeoutSeconds is the function's timeout (fnenv.NotifyTimeoutSeconds, which the stack sets).
const TimeoutSeconds = fnenv.NotifyTimeoutSeconds

// Loader reads a user's channels, their targets opened (dynamostore.Store.LoadChannels with the
// KMS opener).
type Loader func(ctx context.Context, user string) ([]channel.Channel, error)

// Cache keeps each user's channels for at most Bound after reading them, so that a burst of one
// user's alerts reads the table and KMS once; a put or delete reaches the function within Bound.
type Cache struct {
	load  Loader
	bound time.Duration
	now   func() time.Time
	mu    sync.Mutex
	users map[string]cached
}

type cached struct {
	chans []channel.Channel
	at    time.Time
}

// NewCache returns a cache over load.
func NewCache(load Loader, bound time.Duration, now func() time.Time) *Cache {
	return &Cache{load: load, bound: bound, now: now, users: map[string]cached{}}
}

// Channels returns user's channels, read again when the cached ones are older than the bound.
func (c *Cache) Channels(ctx context.Context, user string) ([]channel.Channel, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.users[user]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.bound {
		return e.chans, nil
	}
	chans, err := c.load(ctx, user)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.users[user] = cached{chans: chans, at: now}
	c.mu.Unlock()
	return chans, nil
}

// Handler delivers the alerts of an SNS event.
type Handler struct {
	chans    *Cache
	notifier *notify.Notifier
	metrics  io.Writer
	now      func() time.Time
	log      *slog.Logger
	mu       sync.Mutex
	last     map[channel.Kind]notify.Counts // the counters as last written
}

// NewHandler returns the handler; metrics receives the EMF lines (nil: none).
func NewHandler(chans *Cache, n *notify.Notifier, metrics io.Writer, now func() time.Time, log *slog.Logger) *Handler {
	return &Handler{chans: chans, notifier: n, metrics: metrics, now: now, log: log, last: map[channel.Kind]notify.Counts{}}
}

// Result is what an invocation did, by outcome (notify.Outcome) over every channel.
type Result struct {
	Alerts   int                    `json:"alerts"`
	Outcomes map[notify.Outcome]int `json:"outcomes"`
}

// Handle delivers each record's alert to its user's channels. It fails (and Lambda tries the
// event again, then puts it in the function's on-failure queue) only when an alert was neither
// delivered nor dead-lettered, or its user's channels could not be read: delivery is at least
// once, and receivers deduplicate by alert id.
func (h *Handler) Handle(ctx context.Context, ev events.SNSEvent) (Result, error) {
	res := Result{Outcomes: map[notify.Outcome]int{}}
	defer h.writeMetrics()
	for _, r := range ev.Records {
		m, err := Message(&r.SNS)
		if err != nil {
			// A message that is not an alert is not the topic's: it can never be delivered.
			h.log.Error("not an alert, dropped", "message_id", r.SNS.MessageID, "err", err)
			continue
		}
		res.Alerts++
		all, err := h.chans.Channels(ctx, m.Alert.UserID)
		if err != nil {
			return res, fmt.Errorf("alert %s: %w", m.Alert.AlertID, err)
		}
		chans := make([]channel.Channel, 0, len(all))
		for _, c := range all {
			if c.Kind != channel.Email && c.Kind != channel.SMS { // SNS subscriptions of the topic
				chans = append(chans, c)
			}
		}
		results, err := h.notifier.Notify(ctx, chans, m)
		for _, x := range results {
			res.Outcomes[x.Outcome]++
		}
		if err != nil {
			return res, fmt.Errorf("alert %s: %w", m.Alert.AlertID, err)
		}
	}
	return res, nil
}

// Message reads an SNS record's alert: the body is the topic's message for Lambda
// (snsalerts.ForLambda: the alert's JSON with, beside its fields, its device's name and location,
// its links, its reader's units and time zone, a digest's alerts), or the alert's JSON alone (as
// messages published before ForLambda existed are); the episode's start is its attribute
// EpisodeStartAttr when the body does not say it.
func Message(e *events.SNSEntity) (notify.Message, error) {
	var f snsalerts.ForLambda
	if err := json.Unmarshal([]byte(e.Message), &f); err != nil {
		return notify.Message{}, fmt.Errorf("reading the alert of message %s: %w", e.MessageID, err)
	}
	a := f.Alert
	if a.UserID == "" || a.Kind == "" {
		return notify.Message{}, fmt.Errorf("message %s is not an alert (no user_id or kind)", e.MessageID)
	}
	m := notify.Message{Alert: a, Device: device.Device{ID: a.DeviceID, Name: f.DeviceName, Location: f.Location},
		EpisodeStartMs: f.EpisodeStartMs, AckLink: f.AckLink, SnoozeLink: f.SnoozeLink, Held: f.Held}
	m.Reader.Units = f.Units
	if f.TimeZone != "" {
		// The evaluator read the name from the users' table, where it was checked; a zone this
		// function's time zone database lacks still leaves the alert readable, in UTC.
		if zone, err := time.LoadLocation(f.TimeZone); err == nil {
			m.Reader.Zone = zone
		}
	}
	if f.MetricUnits != nil {
		m.Reader.Catalog = declaredUnits(f.MetricUnits)
	}
	if attr, ok := e.MessageAttributes[EpisodeStartAttr].(map[string]any); ok && m.EpisodeStartMs == 0 {
		if v, ok := attr["Value"].(string); ok {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return notify.Message{}, fmt.Errorf("message %s: %s %q is not Unix milliseconds", e.MessageID, EpisodeStartAttr, v)
			}
			m.EpisodeStartMs = ms
		}
	}
	return m, nil
}

// declaredUnits are the units of the declared metrics a message names (ForLambda.MetricUnits);
// the built-ins' are their own.
type declaredUnits map[string]string

func (u declaredUnits) Unit(metric string) string {
	if reading.Builtin(metric) {
		return (*reading.Catalog)(nil).Unit(metric)
	}
	return u[metric]
}

// writeMetrics writes the counters' increase since the last write (WriteMetrics).
func (h *Handler) writeMetrics() {
	if h.metrics == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := h.notifier.Counts()
	delta := make(map[channel.Kind]notify.Counts, len(counts))
	for k, now := range counts {
		before := h.last[k]
		delta[k] = notify.Counts{Sent: now.Sent - before.Sent, Retried: now.Retried - before.Retried, Failed: now.Failed - before.Failed}
		h.last[k] = now
	}
	if err := WriteMetrics(h.metrics, delta, h.now()); err != nil {
		h.log.Error("writing metrics", "err", err)
	}
}

// Kinds are the channel kinds the function delivers to (email and SMS are SNS's, whose own
// metrics count them).
var Kinds = []channel.Kind{channel.Slack, channel.Teams, channel.Webhook, channel.PagerDuty}

// WriteMetrics writes an invocation's counters as EMF lines: NotifySent, NotifyRetried and
// NotifyFailed with the dimensions Function=notify and ChannelKind (each of Kinds), and their
// totals with Function=notify alone, which the stack's alarms watch.
func WriteMetrics(w io.Writer, counts map[channel.Kind]notify.Counts, now time.Time) error {
	l := emf.New(emf.Namespace)
	var total notify.Counts
	for _, k := range Kinds {
		c := counts[k]
		total.Sent, total.Retried, total.Failed = total.Sent+c.Sent, total.Retried+c.Retried, total.Failed+c.Failed
		l.With("Function", "notify", "ChannelKind", string(k)).
			Put("NotifySent", emf.Count, float64(c.Sent)).
			Put("NotifyRetried", emf.Count, float64(c.Retried)).
			Put("NotifyFailed", emf.Count, float64(c.Failed))
	}
	l.With("Function", "notify").
		Put("NotifySent", emf.Count, float64(total.Sent)).
		Put("NotifyRetried", emf.Count, float64(total.Retried)).
		Put("NotifyFailed", emf.Count, float64(total.Failed))
	return l.Write(w, now)
}

// SQSClient is the part of the SQS client the dead letter uses.
type SQSClient interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSDeadLetter keeps what could not be delivered in an SQS queue (alarmed on its depth): the
// body is {"failed": notify.Failed, "reason": ...}, with no target nor secret (Failed holds the
// channel's id and redacted target).
type SQSDeadLetter struct {
	client   SQSClient
	queueURL string
}

// NewSQSDeadLetter returns the dead letter of queueURL.
func NewSQSDeadLetter(client SQSClient, queueURL string) *SQSDeadLetter {
	return &SQSDeadLetter{client: client, queueURL: queueURL}
}

// DeadLettered is an SQS dead letter's body.
type DeadLettered struct {
	Failed notify.Failed `json:"failed"`
	Reason string        `json:"reason"`
}

// Put sends the failed message and its reason to the queue; nil means SQS has it.
func (d *SQSDeadLetter) Put(ctx context.Context, item notify.Failed, reason string) error {
	body, err := json.Marshal(DeadLettered{Failed: item, Reason: reason})
	if err != nil {
		return err
	}
	s := string(body)
	if _, err := d.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &d.queueURL, MessageBody: &s}); err != nil {
		return fmt.Errorf("dead-lettering alert %s for channel %s: %w", item.Alert.AlertID, item.ChannelID, err)
	}
	return nil
}

// Store is the part of the DynamoDB store the function reads.
type Store interface {
	LoadChannels(ctx context.Context, opener dynamostore.Opener, user string) ([]channel.Channel, error)
}

// OpenedBy is the loader of store's channels, opened by opener.
func OpenedBy(store Store, opener dynamostore.Opener) Loader {
	return func(ctx context.Context, user string) ([]channel.Channel, error) {
		return store.LoadChannels(ctx, opener, user)
	}
}
