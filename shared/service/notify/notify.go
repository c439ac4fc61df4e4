// Package notify delivers alerts to people's channels (issue 25; channels are
// shared/domain/channel's): a signed POST of the alert's JSON to a webhook, a Slack message, a
// Teams Adaptive Card, a PagerDuty Events API v2 event. Delivery is at least once and never
// silently lost: every request has a timeout; network errors, timeouts, closed connections, 5xx
// and 429 are retried with exponential backoff and jitter (a 429's or 503's Retry-After
// honoured, capped), a bounded number of tries; then, or at once for any other 4xx, the message
// goes to a dead letter with the reason. Counters per channel kind (sent, retried, failed) feed
// the metrics. Email and SMS go through SNS on AWS: a TextSender the caller gives, or skipped.
// The same code runs in the notify Lambda and under `iotwatch run` (docs/notify.md).
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
)

// DeadLetter keeps what could not be delivered, with the reason (locally a file under
// DIR/notify-failed/, on AWS an SQS queue with an alarm). Put must be durable when it returns
// nil: the message is then no longer the sender's.
type DeadLetter interface {
	Put(ctx context.Context, item Failed, reason string) error
}

// Failed is a message that was not delivered: enough to find the channel again (its ID, never
// its target or secret) and send the alert again.
type Failed struct {
	ChannelID      string       `json:"channel_id"`
	UserID         string       `json:"user_id"`
	Kind           channel.Kind `json:"channel"`
	Target         string       `json:"target"` // redacted
	Alert          alert.Alert  `json:"alert"`
	EpisodeStartMs int64        `json:"episode_start_ms,omitempty"`
	Tries          int          `json:"tries"`
	Status         int          `json:"status,omitempty"` // the last HTTP status, 0 when there was none
	At             time.Time    `json:"at"`
}

// Message is the message a dead letter holds, to be delivered again (to the channel
// channel.ByID finds); the device's name and location and the links are the caller's to fill
// again, if it has them.
func (f *Failed) Message() Message {
	return Message{Alert: f.Alert, EpisodeStartMs: f.EpisodeStartMs, Device: device.Device{ID: f.Alert.DeviceID}}
}

// TextSender sends an email or SMS channel's text (SNS Publish to the address or number, on
// AWS). Locally there is none: those channels are skipped.
type TextSender interface {
	SendText(ctx context.Context, c channel.Channel, subject, body string) error
}

// Config configures a Notifier; zero fields take the defaults named.
type Config struct {
	// Client sends the requests (default: a client of its own; a copy that follows no redirect
	// is used). Its Timeout is not relied upon: each try has Timeout.
	Client *http.Client
	// Timeout bounds each try, connection to last byte of the answer (default 10 s).
	Timeout time.Duration
	// MaxTries is how many times a message is tried before its dead letter (default 5).
	MaxTries int
	// BaseDelay is the wait after the first failed try, doubled after each (default 1 s);
	// MaxDelay caps it and any Retry-After (default 5 min).
	BaseDelay, MaxDelay time.Duration
	// Sleep waits d or until ctx ends (default: a timer); tests pass one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of webhook timestamps and Retry-After dates (default time.Now).
	Now func() time.Time
	// DeadLetter keeps what could not be delivered (required).
	DeadLetter DeadLetter
	// PagerDutyURL is the Events API v2 endpoint (default DefaultPagerDutyURL).
	PagerDutyURL string
	// DeviceURL is the link to a device's page in texts (nil: none).
	DeviceURL func(deviceID string) string
	// Text makes the texts people read (default DefaultText).
	Text Texter
	// SNS sends email and SMS channels (nil: they are skipped).
	SNS TextSender
	// Log reports dead letters and skips (default slog.Default()); targets and secrets never.
	Log *slog.Logger
}

// Notifier delivers messages to channels. It is safe for concurrent use.
type Notifier struct {
	cfg    Config
	counts map[channel.Kind]*counters
}

type counters struct{ sent, retried, failed atomic.Int64 }

// Counts are a channel kind's counters since the Notifier started.
type Counts struct {
	Sent    int64 // messages delivered (a 2xx answer)
	Retried int64 // tries that failed and were tried again
	Failed  int64 // messages dead-lettered
}

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.DeadLetter == nil {
		return nil, errors.New("notify: a dead letter is required (undelivered messages must be kept)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	// Redirects are not followed: Go's client would follow a 301, 302 or 303 with a GET and no
	// body, and its 200 would count as delivered; a 3xx is a refusal to fix in the channel.
	client := http.Client{}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = 5
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 5 * time.Minute
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PagerDutyURL == "" {
		cfg.PagerDutyURL = DefaultPagerDutyURL
	}
	if cfg.Text == nil {
		cfg.Text = DefaultText
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Notifier{cfg: cfg, counts: map[channel.Kind]*counters{}}
	for _, k := range channel.Kinds {
		n.counts[k] = &counters{}
	}
	return n, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counts returns the counters of every channel kind.
func (n *Notifier) Counts() map[channel.Kind]Counts {
	out := make(map[channel.Kind]Counts, len(n.counts))
	for k, c := range n.counts {
		out[k] = Counts{Sent: c.sent.Load(), Retried: c.retried.Load(), Failed: c.failed.Load()}
	}
	return out
}

// Outcome is what became of a message for one channel.
type Outcome string

// The outcomes.
const (
	Sent         Outcome = "sent"
	NotRouted    Outcome = "not_routed"  // the channel does not take this alert (channel.Routes)
	Skipped      Outcome = "skipped"     // an email or SMS channel with no TextSender
	DeadLettered Outcome = "dead_letter" // given up, kept in the dead letter with Reason
	Undelivered  Outcome = "undelivered" // neither sent nor kept: Deliver returned an error
)

// Result is the outcome of delivering a message to one channel.
type Result struct {
	Outcome Outcome
	Tries   int
	Status  int    // the last HTTP status (0: none)
	Reason  string // why it was dead-lettered or skipped
}

// Notify delivers m to each of chans that takes it (channel.Routes; for a digest,
// channel.DigestRoutes over m.Held when given), concurrently, so that a slow channel does not
// hold up the others. It returns when every delivery has ended; the error joins those of
// Deliver (messages neither delivered nor dead-lettered, which the caller must keep).
func (n *Notifier) Notify(ctx context.Context, chans []channel.Channel, m Message) ([]Result, error) {
	results := make([]Result, len(chans))
	errs := make([]error, len(chans))
	var wg sync.WaitGroup
	for i := range chans {
		wg.Go(func() { results[i], errs[i] = n.Deliver(ctx, chans[i], m) })
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// routes reports whether m goes to c.
func routes(m *Message, c *channel.Channel) bool {
	if m.test {
		return true
	}
	if m.Alert.Kind == alert.Digest && len(m.Held) > 0 {
		return m.Alert.Suppressed == "" && channel.DigestRoutes(m.Held, c)
	}
	return channel.Routes(&m.Alert, c)
}

// Deliver sends m to c if c takes it, trying again as the package comment says, and puts it in
// the dead letter when it gives up. The error is non-nil only when the message was neither
// delivered nor kept: ctx ended first (a stop), or the dead letter failed; the caller keeps the
// message and tries again later (delivery is at least once; receivers deduplicate by alert id).
func (n *Notifier) Deliver(ctx context.Context, c channel.Channel, m Message) (Result, error) {
	if !routes(&m, &c) {
		return Result{Outcome: NotRouted}, nil
	}
	if c.Kind == channel.PagerDuty && m.Alert.Kind == alert.Escalate && m.EpisodeStartMs == 0 {
		n.cfg.Log.WarnContext(ctx, "ESCALATE without its episode's start: PagerDuty gets it under another dedup_key than the episode's OPEN and RESOLVE",
			"alert", m.Alert.AlertID, "channel", c.ID())
	}
	t := n.cfg.Text(&m)
	if m.test {
		t = testText(&c)
	}
	try, err := n.attempt(&c, &m, t)
	if err != nil {
		return n.deadLetter(ctx, &c, &m, Result{Reason: err.Error()})
	}
	if try == nil {
		n.cfg.Log.InfoContext(ctx, "channel skipped: no email/SMS sender here (SNS, on AWS)", "channel", c.ID(), "kind", c.Kind)
		return Result{Outcome: Skipped, Reason: "no email/SMS sender (SNS, AWS only)"}, nil
	}
	return n.retry(ctx, &c, &m, try)
}

// answer is the outcome of one try.
type answer struct {
	status     int
	body       string        // an excerpt
	retryAfter time.Duration // the answer's Retry-After (0: none)
	err        error         // no answer: a network error, a timeout, a closed connection
}

// tryFunc makes one try.
type tryFunc func(ctx context.Context) answer

// retry tries until a 2xx, a permanent failure or MaxTries, then dead-letters.
func (n *Notifier) retry(ctx context.Context, c *channel.Channel, m *Message, try tryFunc) (Result, error) {
	cnt := n.counts[c.Kind]
	var last answer
	for i := 1; ; i++ {
		tctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		last = try(tctx)
		cancel()
		if last.err == nil && last.status >= 200 && last.status < 300 {
			cnt.sent.Add(1)
			return Result{Outcome: Sent, Tries: i, Status: last.status}, nil
		}
		if ctx.Err() != nil { // a stop, not the channel's fault: neither retried nor dead-lettered
			return Result{Outcome: Undelivered, Tries: i, Status: last.status}, fmt.Errorf("delivering alert %s to channel %s: %w", m.Alert.AlertID, c.ID(), ctx.Err())
		}
		retryable := last.err != nil || last.status == http.StatusTooManyRequests || last.status >= 500
		if !retryable {
			return n.deadLetter(ctx, c, m, Result{Tries: i, Status: last.status, Reason: fmt.Sprintf("refused: HTTP %d %s (not retried)", last.status, last.body)})
		}
		if i >= n.cfg.MaxTries {
			return n.deadLetter(ctx, c, m, Result{Tries: i, Status: last.status, Reason: fmt.Sprintf("gave up after %d tries: %s", i, last.describe())})
		}
		cnt.retried.Add(1)
		wait := Backoff(n.cfg.BaseDelay, n.cfg.MaxDelay, i)
		if last.retryAfter > 0 {
			wait = min(last.retryAfter, n.cfg.MaxDelay)
		}
		if err := n.cfg.Sleep(ctx, wait); err != nil {
			return Result{Outcome: Undelivered, Tries: i, Status: last.status}, fmt.Errorf("delivering alert %s to channel %s: %w", m.Alert.AlertID, c.ID(), err)
		}
	}
}

func (a answer) describe() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("HTTP %d %s", a.status, a.body)
}

// Backoff is the wait after failed try i (from 1): BaseDelay·2^(i−1), capped at max, with
// "equal jitter" (a random point in its upper half) so that many senders retrying after the same
// outage do not come back in step.
func Backoff(base, max time.Duration, i int) time.Duration {
	d := base
	for k := 1; k < i && d < max; k++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

func (n *Notifier) deadLetter(ctx context.Context, c *channel.Channel, m *Message, r Result) (Result, error) {
	item := Failed{ChannelID: c.ID(), UserID: c.UserID, Kind: c.Kind, Target: c.Redacted(), Alert: m.Alert, EpisodeStartMs: m.EpisodeStartMs,
		Tries: r.Tries, Status: r.Status, At: n.cfg.Now().UTC()}
	if err := n.cfg.DeadLetter.Put(ctx, item, r.Reason); err != nil {
		r.Outcome = Undelivered
		return r, fmt.Errorf("keeping undelivered alert %s of channel %s in the dead letter: %w", m.Alert.AlertID, c.ID(), err)
	}
	n.counts[c.Kind].failed.Add(1)
	n.cfg.Log.WarnContext(ctx, "alert dead-lettered", "alert", m.Alert.AlertID, "channel", c.ID(), "kind", c.Kind, "tries", r.Tries, "reason", r.Reason)
	r.Outcome = DeadLettered
	return r, nil
}

// attempt returns the function that makes one try of m to c; nil for an email or SMS channel
// with no TextSender; an error when no request can be made (a permanent failure).
func (n *Notifier) attempt(c *channel.Channel, m *Message, t Text) (tryFunc, error) {
	l := linksOf(m, n.cfg.DeviceURL)
	switch c.Kind {
	case channel.Email, channel.SMS:
		if n.cfg.SNS == nil {
			return nil, nil
		}
		body := alert.WithLinks(t.Body, m.AckLink, m.SnoozeLink)
		if c.Kind == channel.SMS {
			body = alert.SMSWithLink(t.Short, m.AckLink)
		}
		return func(ctx context.Context) answer {
			if err := n.cfg.SNS.SendText(ctx, *c, t.Title, body); err != nil {
				return answer{err: err}
			}
			return answer{status: http.StatusOK}
		}, nil
	case channel.Webhook:
		body, err := m.Alert.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding alert %s: %w", m.Alert.AlertID, err)
		}
		return n.post(c.Target, body, func(h http.Header) {
			ts := n.cfg.Now().Unix()
			h.Set(HeaderAlertID, m.Alert.AlertID)
			h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			h.Set(HeaderSignature, Sign(c.Secret, ts, body))
			if m.test {
				h.Set(HeaderTest, "true")
			}
		}), nil
	case channel.Slack:
		body, err := slackBody(t, l)
		if err != nil {
			return nil, fmt.Errorf("encoding a Slack message: %w", err)
		}
		return n.post(c.Target, body, nil), nil
	case channel.Teams:
		body, err := teamsBody(t, l, m.Alert.Severity, m.Alert.Kind)
		if err != nil {
			return nil, fmt.Errorf("encoding a Teams card: %w", err)
		}
		return n.post(c.Target, body, nil), nil
	case channel.PagerDuty:
		body, err := pagerDutyBody(c, m, t, l)
		if err != nil {
			return nil, err
		}
		return n.post(n.cfg.PagerDutyURL, body, nil), nil
	}
	return nil, fmt.Errorf("unknown channel %q", c.Kind)
}

// post returns a try that POSTs body as JSON to target, with the headers set (set again at each
// try: a webhook's timestamp and signature are those of the try).
func (n *Notifier) post(target string, body []byte, headers func(http.Header)) tryFunc {
	return func(ctx context.Context) answer {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return answer{err: fmt.Errorf("making the request to %s: %w", channel.Redact(target), err)}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "iotwatch-notify/1")
		if headers != nil {
			headers(req.Header)
		}
		resp, err := n.cfg.Client.Do(req)
		if err != nil {
			return answer{err: redactErr(err, target)}
		}
		defer resp.Body.Close()
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return answer{status: resp.StatusCode, body: strings.TrimSpace(string(excerpt)), retryAfter: retryAfter(resp.Header.Get("Retry-After"), n.cfg.Now())}
	}
}

// maxExcerpt is how much of an answer's body is kept for reasons and for `channels test`.
const maxExcerpt = 512

// redactErr keeps a URL's path and query (a Slack or Teams credential) out of a transport
// error's text, keeping what went wrong.
func redactErr(err error, target string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, channel.Redact(target), ue.Err)
	}
	return errors.New(strings.ReplaceAll(err.Error(), target, channel.Redact(target)))
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date (0: none, or in the past).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		// a day is past any cap (MaxDelay); a larger value must not wrap around to a short wait
		return time.Duration(min(s, 24*60*60)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Answer is what a channel answered to Test.
type Answer struct {
	Status int    // the HTTP status (200 for an email or SMS sent)
	Body   string // an excerpt of the answer's body (at most 512 bytes)
}

// Test sends one marked test message to c (`iotwatch channels test`) and returns the answer,
// once: no retry, no dead letter, no counter. The message says it is a test; a webhook's carries
// the header X-Iotwatch-Test: true and an alert of device TestDevice, rule TestRule, via "test";
// a PagerDuty test triggers an event at severity info and resolves it at once. The error says why
// no answer came or why the answer is a refusal.
func (n *Notifier) Test(ctx context.Context, c channel.Channel) (Answer, error) {
	if _, err := c.Validate(); err != nil {
		return Answer{}, fmt.Errorf("channel %s: %w", c, err)
	}
	m := testMessage(&c, n.cfg.Now())
	try, err := n.attempt(&c, &m, testText(&c))
	if err != nil {
		return Answer{}, err
	}
	if try == nil {
		return Answer{}, fmt.Errorf("no email/SMS sender here: a %s channel is sent through SNS, on AWS only", c.Kind)
	}
	tctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	a := try(tctx)
	cancel()
	if a.err != nil {
		return Answer{}, fmt.Errorf("testing channel %s: %w", c, a.err)
	}
	out := Answer{Status: a.status, Body: a.body}
	if a.status < 200 || a.status >= 300 {
		return out, fmt.Errorf("testing channel %s: HTTP %d %s", c, a.status, a.body)
	}
	if c.Kind == channel.PagerDuty {
		m.Alert.Kind = alert.Resolve
		body, err := pagerDutyBody(&c, &m, Text{}, linkSet{})
		if err == nil {
			tctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
			r := n.post(n.cfg.PagerDutyURL, body, nil)(tctx)
			cancel()
			if r.err != nil || r.status < 200 || r.status >= 300 {
				return out, fmt.Errorf("testing channel %s: the test event was triggered but resolving it failed (%s): resolve it in PagerDuty", c, r.describe())
			}
		}
	}
	return out, nil
}
