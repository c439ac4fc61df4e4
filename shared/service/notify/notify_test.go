package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
)

const (
	secret     = "whsec_0123456789abcdef"
	routingKey = "3fcc9112463424b599f996f9e780dfc6"
)

var (
	t0   = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	room = device.Device{ID: "room-1", Name: "Server room <east>", Location: "Building A"}
)

// fault is how a receiver answers one request.
type fault int

const (
	ok          fault = iota
	unavailable       // 503
	tooMany           // 429, Retry-After: 7
	tooManyDate       // 429, Retry-After an HTTP date 30 s ahead of the notifier's clock
	slow              // answers after the notifier's timeout
	hangup            // closes the connection without an answer
	badRequest        // 400
	serverError       // 500, no Retry-After
)

// receiver is a local HTTP server that answers with the faults it is given, in order (then ok),
// and keeps what it received, checking each request with check.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	faults []fault
	bodies [][]byte // every request's body, answered or not
	oks    [][]byte // the bodies answered 2xx
	heads  []http.Header
	check  func(t *testing.T, h http.Header, body []byte)
}

func newReceiver(t *testing.T, check func(t *testing.T, h http.Header, body []byte), faults ...fault) *receiver {
	r := &receiver{t: t, faults: faults, check: check}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	require.NoError(r.t, err)
	assert.Equal(r.t, http.MethodPost, req.Method)
	assert.Equal(r.t, "application/json", req.Header.Get("Content-Type"))
	if r.check != nil {
		r.check(r.t, req.Header, body)
	}
	r.mu.Lock()
	f := ok
	if len(r.faults) > 0 {
		f, r.faults = r.faults[0], r.faults[1:]
	}
	r.bodies = append(r.bodies, body)
	r.heads = append(r.heads, req.Header.Clone())
	if f == ok {
		r.oks = append(r.oks, body)
	}
	r.mu.Unlock()
	switch f {
	case ok:
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
	case unavailable:
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	case tooMany:
		w.Header().Set("Retry-After", "7")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case tooManyDate:
		w.Header().Set("Retry-After", t0.Add(30*time.Second).Format(http.TimeFormat))
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case slow:
		select {
		case <-req.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case hangup:
		conn, _, err := w.(http.Hijacker).Hijack()
		require.NoError(r.t, err)
		_ = conn.Close()
	case badRequest:
		http.Error(w, `{"status":"invalid event","errors":["'routing_key' is invalid"]}`, http.StatusBadRequest)
	case serverError:
		http.Error(w, "oops", http.StatusInternalServerError)
	}
}

func (r *receiver) got() (all, ok [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([][]byte(nil), r.oks...)
}

// memoryDeadLetter keeps dead letters in memory.
type memoryDeadLetter struct {
	mu      sync.Mutex
	items   []Failed
	reasons []string
}

func (d *memoryDeadLetter) Put(_ context.Context, item Failed, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.items = append(d.items, item)
	d.reasons = append(d.reasons, reason)
	return nil
}

// sleeps records the waits a Notifier asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newNotifier(t *testing.T, cfg Config) (*Notifier, *memoryDeadLetter, *sleeps) {
	dl, sl := &memoryDeadLetter{}, &sleeps{}
	if cfg.DeadLetter == nil {
		cfg.DeadLetter = dl
	}
	cfg.Sleep = sl.sleep
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.Now = func() time.Time { return t0 }
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.DeviceURL == nil {
		cfg.DeviceURL = func(id string) string { return "https://iotwatch.example.com/devices/" + id }
	}
	n, err := New(cfg)
	require.NoError(t, err)
	return n, dl, sl
}

// episodeMessages is an escalating episode of alice's temperature_high on room-1, as the
// evaluator would pass it: the ESCALATE with its episode's start.
func episodeMessages() []Message {
	mk := func(k alert.Kind, sev alert.Severity, min int, v float64) Message {
		a := alert.Alert{Kind: k, Severity: sev, AlertTime: t0.Add(time.Duration(min) * time.Minute), UserID: "alice", DeviceID: room.ID,
			Rule: alert.TemperatureHigh, Metric: "temperature", ObservedValue: alert.Num(v), ThresholdValue: alert.Num(26), WindowStartMs: t0.UnixMilli(),
			WindowEndMs: t0.Add(time.Duration(min) * time.Minute).UnixMilli(), ConfigVersion: 3}
		m := Message{Device: room}
		if k == alert.Escalate {
			a.ThresholdValue = alert.Num(28)
			a.WindowStartMs = t0.Add(10 * time.Minute).UnixMilli()
			m.EpisodeStartMs = t0.UnixMilli()
		}
		if k != alert.Resolve && k != channel.Ack {
			m.AckLink, m.SnoozeLink = "https://iotwatch.example.com/a/room-1/CODE", "https://iotwatch.example.com/z/room-1/CODE"
		}
		a.AlertID = alert.ID(&a)
		m.Alert = a
		return m
	}
	return []Message{
		mk(alert.Open, alert.Warning, 0, 26.4), mk(alert.Remind, alert.Warning, 60, 26.9), mk(alert.Escalate, alert.Violation, 70, 28.3),
		mk(channel.Ack, alert.Violation, 75, 0), mk(alert.Resolve, alert.Violation, 90, 25.1),
	}
}

func checkWebhook(t *testing.T, h http.Header, body []byte) {
	assert.NoError(t, Verify(secret, h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, t0, 0), "the signature verifies")
	var a alert.Alert
	require.NoError(t, json.Unmarshal(body, &a))
	assert.Equal(t, a.AlertID, h.Get(HeaderAlertID))
}

// checkSlack checks Slack's documented incoming-webhook shape: `text`, and `blocks` of known
// types within Block Kit's limits.
func checkSlack(t *testing.T, _ http.Header, body []byte) {
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type, URL string
				Text      struct{ Type, Text string }
			} `json:"elements"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(body, &msg), "%s", body)
	assert.NotEmpty(t, msg.Text, "text: the notification's and the fallback")
	require.NotEmpty(t, msg.Blocks)
	for _, b := range msg.Blocks {
		switch b.Type {
		case "header":
			assert.Equal(t, "plain_text", b.Text.Type)
			assert.LessOrEqual(t, len([]rune(b.Text.Text)), 150)
		case "section":
			assert.Equal(t, "mrkdwn", b.Text.Type)
			assert.LessOrEqual(t, len(b.Fields), 10)
		case "actions":
			for _, e := range b.Elements {
				assert.Equal(t, "button", e.Type)
				assert.Equal(t, "plain_text", e.Text.Type)
				assert.True(t, strings.HasPrefix(e.URL, "https://"))
			}
		default:
			t.Errorf("block type %q", b.Type)
		}
	}
}

// checkTeams checks a Workflows webhook's documented shape: a message with one Adaptive Card
// attachment.
func checkTeams(t *testing.T, _ http.Header, body []byte) {
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string           `json:"type"`
				Version string           `json:"version"`
				Body    []map[string]any `json:"body"`
				Actions []map[string]any `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(body, &msg), "%s", body)
	assert.Equal(t, "message", msg.Type)
	require.Len(t, msg.Attachments, 1)
	att := msg.Attachments[0]
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", att.ContentType)
	assert.Equal(t, "AdaptiveCard", att.Content.Type)
	assert.Equal(t, "1.4", att.Content.Version)
	require.NotEmpty(t, att.Content.Body)
	for _, b := range att.Content.Body {
		assert.Contains(t, []any{"TextBlock", "FactSet"}, b["type"])
	}
	for _, a := range att.Content.Actions {
		assert.Equal(t, "Action.OpenUrl", a["type"])
	}
}

type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string          `json:"summary"`
		Source        string          `json:"source"`
		Severity      string          `json:"severity"`
		Timestamp     string          `json:"timestamp"`
		CustomDetails json.RawMessage `json:"custom_details"`
	} `json:"payload"`
}

// checkPagerDuty checks an Events API v2 event: routing_key, event_action, dedup_key, and for a
// trigger the payload's required summary, source and severity, an ISO 8601 timestamp and the
// alert in custom_details.
func checkPagerDuty(t *testing.T, _ http.Header, body []byte) {
	var ev pdEvent
	require.NoError(t, json.Unmarshal(body, &ev), "%s", body)
	assert.Equal(t, routingKey, ev.RoutingKey)
	assert.Contains(t, []string{"trigger", "acknowledge", "resolve"}, ev.EventAction)
	assert.NotEmpty(t, ev.DedupKey)
	assert.LessOrEqual(t, len(ev.DedupKey), 255)
	if ev.EventAction != "trigger" {
		assert.Nil(t, ev.Payload)
		return
	}
	require.NotNil(t, ev.Payload)
	assert.NotEmpty(t, ev.Payload.Summary)
	assert.LessOrEqual(t, len([]rune(ev.Payload.Summary)), 1024)
	assert.NotEmpty(t, ev.Payload.Source)
	assert.Contains(t, []string{"critical", "error", "warning", "info"}, ev.Payload.Severity)
	_, err := time.Parse(time.RFC3339Nano, ev.Payload.Timestamp)
	assert.NoError(t, err)
	var a alert.Alert
	assert.NoError(t, json.Unmarshal(ev.Payload.CustomDetails, &a), "custom_details is the alert")
}

func TestDeliverShapes(t *testing.T) {
	msgs := episodeMessages()
	open := msgs[0]
	for _, tc := range []struct {
		kind     channel.Kind
		check    func(*testing.T, http.Header, []byte)
		contains []string
	}{
		{channel.Webhook, checkWebhook, []string{`"alert_id":"` + open.Alert.AlertID + `"`, `"observed_value":26.4`}},
		{channel.Slack, checkSlack, []string{"Server room \\u0026lt;east\\u0026gt; (room-1)", "temperature_high", "*Value*\\n26.4°C", "*Threshold*\\n26°C",
			"https://iotwatch.example.com/devices/room-1", "https://iotwatch.example.com/a/room-1/CODE"}},
		{channel.Teams, checkTeams, []string{"Server room \\u003ceast\\u003e (room-1)", `"title":"Value","value":"26.4°C"`, `"title":"Threshold","value":"26°C"`,
			"https://iotwatch.example.com/devices/room-1"}},
		{channel.PagerDuty, checkPagerDuty, []string{`"event_action":"trigger"`, `"severity":"warning"`, `"source":"Server room \u003ceast\u003e (room-1)"`,
			`"custom_details":{"alert_id":"` + open.Alert.AlertID}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			r := newReceiver(t, tc.check)
			c := channel.Channel{UserID: "alice", Kind: tc.kind, Target: r.srv.URL + "/hook/SECRETPATH"}
			cfg := Config{}
			switch tc.kind {
			case channel.Webhook:
				c.Secret = secret
			case channel.PagerDuty:
				c.Target, cfg.PagerDutyURL = routingKey, r.srv.URL+"/v2/enqueue"
			}
			_, err := c.Validate()
			require.NoError(t, err)
			n, dl, _ := newNotifier(t, cfg)
			res, err := n.Deliver(t.Context(), c, open)
			require.NoError(t, err)
			assert.Equal(t, Result{Outcome: Sent, Tries: 1, Status: http.StatusAccepted}, res)
			_, oks := r.got()
			require.Len(t, oks, 1)
			for _, s := range tc.contains {
				assert.Contains(t, string(oks[0]), s)
			}
			if tc.kind == channel.Webhook {
				want, _ := open.Alert.MarshalJSON()
				assert.Equal(t, string(want), string(oks[0]), "the alert's JSON exactly as the contract gives it")
			}
			assert.Empty(t, dl.items)
			assert.Equal(t, Counts{Sent: 1}, n.Counts()[tc.kind])
		})
	}
}

// TestEpisodeThroughFaults sends a whole escalating episode to a webhook, Slack, Teams and
// PagerDuty, each receiver failing in every way before it answers: every routed alert arrives
// (at least once), every signature verifies, and PagerDuty's incident is triggered, escalated,
// acknowledged and resolved under one dedup_key.
func TestEpisodeThroughFaults(t *testing.T) {
	var faults []fault
	for _, f := range []fault{tooMany, tooManyDate, unavailable, hangup, slow, serverError} { // one fault before each answer
		faults = append(faults, f, ok)
	}
	hook := newReceiver(t, checkWebhook, faults...)
	slack := newReceiver(t, checkSlack, faults...)
	teams := newReceiver(t, checkTeams, faults...)
	pd := newReceiver(t, checkPagerDuty, faults...)
	chans := []channel.Channel{
		{UserID: "alice", Kind: channel.Webhook, Target: hook.srv.URL, Secret: secret, MinSeverity: alert.Warning},
		{UserID: "alice", Kind: channel.Slack, Target: slack.srv.URL, MinSeverity: alert.Warning},
		{UserID: "alice", Kind: channel.Teams, Target: teams.srv.URL, MinSeverity: alert.Violation},
		{UserID: "alice", Kind: channel.PagerDuty, Target: routingKey, MinSeverity: alert.Warning},
	}
	n, dl, sl := newNotifier(t, Config{PagerDutyURL: pd.srv.URL, MaxTries: 8, Timeout: time.Second})
	for _, m := range episodeMessages() {
		_, err := n.Notify(t.Context(), chans, m)
		require.NoError(t, err)
	}
	assert.Empty(t, dl.reasons, "nothing dead-lettered")

	idsOf := func(bodies [][]byte, id func([]byte) string) []string {
		var out []string
		for _, b := range bodies {
			out = append(out, id(b))
		}
		return out
	}
	_, oks := hook.got()
	assert.Equal(t, []string{"OPEN", "REMIND", "ESCALATE", "RESOLVE"}, idsOf(oks, func(b []byte) string {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(b, &a))
		return string(a.Kind)
	}), "the webhook got every alert of the episode (not the ACK)")
	_, oks = slack.got()
	assert.Len(t, oks, 4)
	_, oks = teams.got()
	assert.Len(t, oks, 2, "the VIOLATION channel got the ESCALATE and the RESOLVE")

	_, oks = pd.got()
	incidents := map[string][]string{}
	for _, b := range oks {
		var ev pdEvent
		require.NoError(t, json.Unmarshal(b, &ev))
		s := ev.EventAction
		if ev.Payload != nil {
			s += ":" + ev.Payload.Severity
		}
		incidents[ev.DedupKey] = append(incidents[ev.DedupKey], s)
	}
	assert.Len(t, incidents, 1, "one PagerDuty alert for the episode")
	for _, events := range incidents {
		assert.Equal(t, []string{"trigger:warning", "trigger:warning", "trigger:critical", "acknowledge", "resolve"}, events)
	}

	c := n.Counts()
	assert.Equal(t, Counts{Sent: 4, Retried: 4}, c[channel.Webhook], "4 alerts; a 429, a 429, a 503 and a hangup before their answers")
	assert.Equal(t, Counts{Sent: 4, Retried: 4}, c[channel.Slack])
	assert.Equal(t, Counts{Sent: 5, Retried: 5}, c[channel.PagerDuty], "5 events; the 5th after a timeout")
	assert.Equal(t, Counts{Sent: 2, Retried: 2}, c[channel.Teams])
	assert.Contains(t, sl.d, 7*time.Second, "a 429's Retry-After in seconds is honoured")
	assert.Contains(t, sl.d, 30*time.Second, "a 429's Retry-After as an HTTP date is honoured")
}

func TestDeadLetters(t *testing.T) {
	open := episodeMessages()[0]
	t.Run("a 400 at once", func(t *testing.T) {
		r := newReceiver(t, nil, badRequest)
		n, dl, sl := newNotifier(t, Config{PagerDutyURL: r.srv.URL})
		c := channel.Channel{UserID: "alice", Kind: channel.PagerDuty, Target: routingKey}
		res, err := n.Deliver(t.Context(), c, open)
		require.NoError(t, err, "dead-lettered, so kept: no error")
		assert.Equal(t, DeadLettered, res.Outcome)
		assert.Equal(t, 1, res.Tries)
		assert.Empty(t, sl.d, "no wait: not retried")
		require.Len(t, dl.items, 1)
		assert.Equal(t, 400, dl.items[0].Status)
		assert.Equal(t, open.Alert, dl.items[0].Alert)
		assert.Equal(t, c.ID(), dl.items[0].ChannelID)
		assert.Equal(t, "***dfc6", dl.items[0].Target)
		assert.Contains(t, dl.reasons[0], "refused: HTTP 400")
		assert.Contains(t, dl.reasons[0], "routing_key' is invalid")
		assert.Equal(t, Counts{Failed: 1}, n.Counts()[channel.PagerDuty])
	})
	t.Run("a server down past the tries", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		url := "http://" + l.Addr().String() + "/services/T0/B0/SECRETPATH"
		require.NoError(t, l.Close()) // nothing listens there now
		n, dl, sl := newNotifier(t, Config{MaxTries: 3, BaseDelay: time.Second})
		c := channel.Channel{UserID: "alice", Kind: channel.Slack, Target: url}
		res, err := n.Deliver(t.Context(), c, open)
		require.NoError(t, err)
		assert.Equal(t, Result{Outcome: DeadLettered, Tries: 3, Reason: res.Reason}, res)
		require.Len(t, dl.reasons, 1)
		assert.Contains(t, dl.reasons[0], "gave up after 3 tries")
		assert.Contains(t, dl.reasons[0], "connection refused")
		assert.NotContains(t, dl.reasons[0], "SECRETPATH", "the URL's path (Slack's credential) is redacted")
		require.Len(t, sl.d, 2, "waits between the 3 tries")
		assert.True(t, sl.d[0] >= 500*time.Millisecond && sl.d[0] <= time.Second, "first wait %s", sl.d[0])
		assert.True(t, sl.d[1] >= time.Second && sl.d[1] <= 2*time.Second, "second wait %s", sl.d[1])
		assert.Equal(t, Counts{Retried: 2, Failed: 1}, n.Counts()[channel.Slack])
	})
	t.Run("Retry-After is capped", func(t *testing.T) {
		r := newReceiver(t, nil, tooMany, tooMany)
		n, dl, sl := newNotifier(t, Config{MaxDelay: 3 * time.Second})
		res, err := n.Deliver(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Teams, Target: r.srv.URL}, open)
		require.NoError(t, err)
		assert.Equal(t, Sent, res.Outcome)
		assert.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, sl.d)
		assert.Empty(t, dl.items)
	})
	t.Run("a stop while waiting: not lost, the caller keeps it", func(t *testing.T) {
		r := newReceiver(t, nil, unavailable)
		n, dl, _ := newNotifier(t, Config{})
		ctx, cancel := context.WithCancel(t.Context())
		n.cfg.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
		res, err := n.Deliver(ctx, channel.Channel{UserID: "alice", Kind: channel.Slack, Target: r.srv.URL}, open)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, Undelivered, res.Outcome)
		assert.Empty(t, dl.items, "not dead-lettered: it is to be tried again")
	})
	t.Run("a stop during a try: not lost, the caller keeps it", func(t *testing.T) {
		r := newReceiver(t, nil, slow)
		n, dl, _ := newNotifier(t, Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		res, err := n.Deliver(ctx, channel.Channel{UserID: "alice", Kind: channel.Slack, Target: r.srv.URL}, open)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, Undelivered, res.Outcome)
		assert.Empty(t, dl.items)
		assert.Equal(t, Counts{}, n.Counts()[channel.Slack])
	})
	t.Run("a redirect is a refusal, not followed", func(t *testing.T) {
		var gets int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets++
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		n, dl, _ := newNotifier(t, Config{Client: &http.Client{}})
		res, err := n.Deliver(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Webhook, Target: srv.URL, Secret: secret}, open)
		require.NoError(t, err)
		assert.Equal(t, DeadLettered, res.Outcome)
		assert.Equal(t, http.StatusFound, res.Status)
		assert.Zero(t, gets, "no GET to the redirect's target")
		require.Len(t, dl.reasons, 1)
	})
	t.Run("a timeout past the tries, the Teams URL's query redacted", func(t *testing.T) {
		r := newReceiver(t, nil, slow, slow)
		n, dl, _ := newNotifier(t, Config{MaxTries: 2, Timeout: 50 * time.Millisecond})
		res, err := n.Deliver(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Teams, Target: r.srv.URL + "/workflows/x/invoke?sig=SECRETSIG"}, open)
		require.NoError(t, err)
		assert.Equal(t, DeadLettered, res.Outcome)
		require.Len(t, dl.reasons, 1)
		assert.Contains(t, dl.reasons[0], "gave up after 2 tries: Post "+r.srv.URL+"/***: context deadline exceeded")
		assert.NotContains(t, dl.reasons[0], "SECRETSIG")

		b, err := json.Marshal(dl.items[0])
		require.NoError(t, err)
		assert.NotContains(t, string(b), "SECRETSIG", "the dead letter holds no credential")
		var back Failed
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, dl.items[0], back, "a dead letter reads back as it was written")

		// Tried again (the next start, a redrive): the same alert to the same channel.
		chans := []channel.Channel{{UserID: "alice", Kind: channel.Teams, Target: r.srv.URL + "/workflows/x/invoke?sig=SECRETSIG"}}
		c, found := channel.ByID(chans, back.ChannelID)
		require.True(t, found)
		n.cfg.Timeout = 2 * time.Second
		res, err = n.Deliver(t.Context(), c, back.Message())
		require.NoError(t, err)
		assert.Equal(t, Sent, res.Outcome)
		_, oks := r.got()
		require.Len(t, oks, 1)
		assert.Contains(t, string(oks[0]), open.Alert.AlertID)
	})
	t.Run("no dead letter, no notifier", func(t *testing.T) {
		_, err := New(Config{})
		assert.Error(t, err)
	})
}

func TestNotifyRoutes(t *testing.T) {
	r := newReceiver(t, nil)
	n, _, _ := newNotifier(t, Config{})
	chans := []channel.Channel{
		{UserID: "alice", Kind: channel.Slack, Target: r.srv.URL + "/w", MinSeverity: alert.Warning},
		{UserID: "alice", Kind: channel.Slack, Target: r.srv.URL + "/v", MinSeverity: alert.Violation},
		{UserID: "alice", Kind: channel.Email, Target: "alice@example.com", MinSeverity: alert.Warning},
	}
	open := episodeMessages()[0]
	res, err := n.Notify(t.Context(), chans, open)
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Sent, NotRouted, Skipped}, []Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome})

	open.Alert.Suppressed = alert.QuietHours
	res, err = n.Notify(t.Context(), chans, open)
	require.NoError(t, err)
	assert.Equal(t, []Outcome{NotRouted, NotRouted, NotRouted}, []Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome})

	held := []alert.Alert{open.Alert}
	d := Message{Alert: alert.NewDigest("alice", t0.Add(8*time.Hour), held), Held: held}
	res, err = n.Notify(t.Context(), chans, d)
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Sent, NotRouted, Skipped}, []Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome}, "a digest of warnings to the WARNING channels")
	_, oks := r.got()
	require.Len(t, oks, 2)
	assert.Contains(t, string(oks[1]), "1 alerts held during your quiet hours")
}

// textSender records the email and SMS it is asked to send.
type textSender struct {
	mu   sync.Mutex
	sent []string
}

func (s *textSender) SendText(_ context.Context, c channel.Channel, subject, body string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Kind == channel.SMS {
		subject = body
	}
	s.sent = append(s.sent, string(c.Kind)+" "+c.Target+": "+subject)
	return nil
}

func TestEmailAndSMSThroughTheTextSender(t *testing.T) {
	ts := &textSender{}
	n, _, _ := newNotifier(t, Config{SNS: ts})
	chans := []channel.Channel{{UserID: "alice", Kind: channel.Email, Target: "alice@example.com"}, {UserID: "alice", Kind: channel.SMS, Target: "+14155550100"}}
	res, err := n.Notify(t.Context(), chans, episodeMessages()[0])
	require.NoError(t, err)
	assert.Equal(t, Sent, res[0].Outcome)
	assert.Equal(t, Sent, res[1].Outcome)
	assert.ElementsMatch(t, []string{"email alice@example.com: [iotwatch] WARNING temperature high opened on Server room <east> (room-1)",
		"sms +14155550100: iotwatch WARNING OPEN: Server room <east> temperature high: 26.4°C > 26°C Dec 7 10:00 UTC https://iotwatch.example.com/a/room-1/CODE"}, ts.sent)
}

func TestChannelTest(t *testing.T) {
	t.Run("webhook", func(t *testing.T) {
		r := newReceiver(t, checkWebhook)
		n, dl, _ := newNotifier(t, Config{})
		ans, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Webhook, Target: r.srv.URL, Secret: secret})
		require.NoError(t, err)
		assert.Equal(t, Answer{Status: http.StatusAccepted, Body: `{"status":"success","message":"Event processed"}`}, ans)
		_, oks := r.got()
		require.Len(t, oks, 1)
		assert.Equal(t, "true", r.heads[0].Get(HeaderTest))
		var a alert.Alert
		require.NoError(t, json.Unmarshal(oks[0], &a))
		assert.Equal(t, TestDevice, a.DeviceID)
		assert.Equal(t, "test", a.Via)
		assert.Empty(t, dl.items)
		assert.Equal(t, Counts{}, n.Counts()[channel.Webhook], "a test is not counted")
	})
	t.Run("slack says it is a test", func(t *testing.T) {
		r := newReceiver(t, checkSlack)
		n, _, _ := newNotifier(t, Config{})
		_, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Slack, Target: r.srv.URL})
		require.NoError(t, err)
		_, oks := r.got()
		require.Len(t, oks, 1)
		assert.Contains(t, string(oks[0]), "Test message")
		assert.Contains(t, string(oks[0]), "No device is alarming")
	})
	t.Run("pagerduty triggers at info and resolves", func(t *testing.T) {
		r := newReceiver(t, checkPagerDuty)
		n, _, _ := newNotifier(t, Config{PagerDutyURL: r.srv.URL})
		_, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.PagerDuty, Target: routingKey})
		require.NoError(t, err)
		_, oks := r.got()
		require.Len(t, oks, 2)
		var trig, res pdEvent
		require.NoError(t, json.Unmarshal(oks[0], &trig))
		require.NoError(t, json.Unmarshal(oks[1], &res))
		assert.Equal(t, "trigger", trig.EventAction)
		assert.Equal(t, "info", trig.Payload.Severity)
		assert.Equal(t, "resolve", res.EventAction)
		assert.Equal(t, trig.DedupKey, res.DedupKey)
	})
	t.Run("a refusal is returned with the answer, not retried", func(t *testing.T) {
		r := newReceiver(t, nil, unavailable)
		n, _, _ := newNotifier(t, Config{})
		ans, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Teams, Target: r.srv.URL + "/SECRETPATH"})
		require.Error(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, ans.Status)
		assert.Equal(t, "down for maintenance", ans.Body)
		assert.NotContains(t, err.Error(), "SECRETPATH")
		all, _ := r.got()
		assert.Len(t, all, 1)
	})
	t.Run("an invalid channel is not tried", func(t *testing.T) {
		n, _, _ := newNotifier(t, Config{})
		_, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Slack, Target: "http://hooks.slack.com/x"})
		assert.ErrorContains(t, err, "use https")
	})
	t.Run("email needs SNS", func(t *testing.T) {
		n, _, _ := newNotifier(t, Config{})
		_, err := n.Test(t.Context(), channel.Channel{UserID: "alice", Kind: channel.Email, Target: "alice@example.com"})
		assert.ErrorContains(t, err, "SNS")
	})
}

// BenchmarkDeliver is one alert delivered to a local receiver that answers at once: the cost of
// building, signing and sending a request, per channel kind.
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(srv.Close)
	open := episodeMessages()[0]
	for _, c := range []channel.Channel{
		{UserID: "alice", Kind: channel.Webhook, Target: srv.URL, Secret: secret},
		{UserID: "alice", Kind: channel.Slack, Target: srv.URL},
		{UserID: "alice", Kind: channel.Teams, Target: srv.URL},
		{UserID: "alice", Kind: channel.PagerDuty, Target: routingKey},
	} {
		b.Run(string(c.Kind), func(b *testing.B) {
			n, err := New(Config{DeadLetter: &memoryDeadLetter{}, PagerDutyURL: srv.URL, Log: slog.New(slog.DiscardHandler)})
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if res, err := n.Deliver(b.Context(), c, open); err != nil || res.Outcome != Sent {
					b.Fatalf("Deliver = %+v, %v", res, err)
				}
			}
		})
	}
}
