package notifylambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/notifylambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/notify"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/sealtest"
)

// server is a local receiver answering status, counting requests and keeping PagerDuty's
// dedup keys.
type server struct {
	mu       sync.Mutex
	requests int
	dedup    []string
}

func (s *server) start(t *testing.T, status int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DedupKey string `json:"dedup_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.requests++
		if body.DedupKey != "" {
			s.dedup = append(s.dedup, body.DedupKey)
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (s *server) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

func sampleEvent(t *testing.T) events.SNSEvent {
	t.Helper()
	b, err := os.ReadFile("../../../events/sns-alert.json")
	require.NoError(t, err)
	var ev events.SNSEvent
	require.NoError(t, json.Unmarshal(b, &ev))
	return ev
}

// TestHandle delivers the sample event (an ESCALATE of alice's) through channels sealed in the
// emulator's table: the webhook and PagerDuty get it (PagerDuty under the episode's key, from
// the episode_start_ms attribute), a Slack that answers 400 goes to the SQS dead letter with
// the reason and no target, the email channel is left to SNS, and the counters are written as
// EMF per channel kind. The channels are read once within the cache's bound and again after it.
func TestHandle(t *testing.T) {
	ctx := context.Background()
	hook, pd, slack := &server{}, &server{}, &server{}
	hookSrv, pdSrv, slackSrv := hook.start(t, http.StatusOK), pd.start(t, http.StatusAccepted), slack.start(t, http.StatusBadRequest)

	_, ddb := awstest.DynamoDB(t)
	awstest.CreateTable(t, ddb, "iotwatch")
	store := dynamostore.New(ddb, "iotwatch")
	sealer := sealtest.New()
	chans := []channel.Channel{
		{UserID: "alice", Kind: channel.Webhook, Target: hookSrv.URL + "/hook", Secret: "0123456789abcdef0123"},
		{UserID: "alice", Kind: channel.PagerDuty, Target: "3fcc9112463424b599f996f9e780dfc6", MinSeverity: alert.Violation},
		{UserID: "alice", Kind: channel.Slack, Target: slackSrv.URL + "/services/T0/B0/secretpath"},
		{UserID: "alice", Kind: channel.Email, Target: "alice@example.com"},
		{UserID: "bob", Kind: channel.Webhook, Target: hookSrv.URL + "/bob", Secret: "0123456789abcdef0123"},
	}
	require.NoError(t, store.PutChannels(ctx, sealer, chans))

	_, sqsc := awstest.SNS(t)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("notify-dead-letters")})
	require.NoError(t, err)
	n, err := notify.New(notify.Config{DeadLetter: notifylambda.NewSQSDeadLetter(sqsc, *q.QueueUrl), PagerDutyURL: pdSrv.URL + "/v2/enqueue",
		Sleep: func(context.Context, time.Duration) error { return nil }, MaxDelay: notifylambda.MaxDelay})
	require.NoError(t, err)
	clock := time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	loads := 0
	load := notifylambda.OpenedBy(store, sealer)
	cache := notifylambda.NewCache(func(ctx context.Context, user string) ([]channel.Channel, error) {
		loads++
		return load(ctx, user)
	}, time.Minute, func() time.Time { return clock })
	var metrics bytes.Buffer
	h := notifylambda.NewHandler(cache, n, &metrics, func() time.Time { return clock }, slog.New(slog.NewTextHandler(io.Discard, nil)))

	ev := sampleEvent(t)
	res, err := h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Alerts)
	assert.Equal(t, map[notify.Outcome]int{notify.Sent: 2, notify.DeadLettered: 1}, res.Outcomes, "email is SNS's: not even tried")
	assert.Equal(t, 1, hook.count())
	assert.Equal(t, 1, slack.count(), "a 400 is not retried")
	m, err := notifylambda.Message(&ev.Records[0].SNS)
	require.NoError(t, err)
	assert.Equal(t, int64(1772445600000), m.EpisodeStartMs)
	assert.Equal(t, []string{channel.EpisodeKey(&m.Alert, 1772445600000)}, pd.dedup, "PagerDuty's key is the episode's, not the ESCALATE's window")

	got, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, got.Messages, 1)
	letters := []string{*got.Messages[0].Body}
	var dl notifylambda.DeadLettered
	require.NoError(t, json.Unmarshal([]byte(letters[0]), &dl))
	assert.Equal(t, chans[2].ID(), dl.Failed.ChannelID)
	assert.Contains(t, dl.Reason, "HTTP 400")
	assert.NotContains(t, letters[0], "secretpath")

	var sent, failed float64
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &doc))
		switch doc["ChannelKind"] {
		case "webhook":
			sent += doc["NotifySent"].(float64)
		case "slack":
			failed += doc["NotifyFailed"].(float64)
		}
	}
	assert.Equal(t, 1.0, sent)
	assert.Equal(t, 1.0, failed)

	// Within the cache's bound the channels are not read again, even once deleted; after it they are.
	require.NoError(t, store.DeleteChannels(ctx, "alice", []string{chans[0].ID()}))
	clock = clock.Add(30 * time.Second)
	_, err = h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 1, loads)
	assert.Equal(t, 2, hook.count())
	clock = clock.Add(31 * time.Second)
	_, err = h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 2, loads)
	assert.Equal(t, 2, hook.count(), "the deleted webhook gets nothing once the cache is past its bound")
}

// TestMessage: the alert read from the body, the episode's start from its attribute; a body that
// is not an alert, or a start that is not a number, is an error.
func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		attrs      map[string]any
		start      int64
		err        string
	}{
		{"no start", `{"alert_id":"a","kind":"OPEN","alert_time":"2026-03-02T10:00:00Z","user_id":"alice","window_start_ms":5}`, nil, 0, ""},
		{"start", `{"alert_id":"a","kind":"ESCALATE","alert_time":"2026-03-02T10:00:00Z","user_id":"alice"}`, map[string]any{"episode_start_ms": map[string]any{"Type": "Number", "Value": "42"}}, 42, ""},
		{"bad start", `{"alert_id":"a","kind":"ESCALATE","alert_time":"2026-03-02T10:00:00Z","user_id":"alice"}`, map[string]any{"episode_start_ms": map[string]any{"Type": "Number", "Value": "x"}}, 0, "not Unix milliseconds"},
		{"not an alert", `{"alert_time":"2026-03-02T10:00:00Z"}`, nil, 0, "is not an alert"},
		{"not JSON", `hello`, nil, 0, "reading the alert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := notifylambda.Message(&events.SNSEntity{MessageID: "m1", Message: tc.body, MessageAttributes: tc.attrs})
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.start, m.EpisodeStartMs)
		})
	}
}

// lambdaBody is what the notify function's subscription gets of a notice the evaluator
// publishes: the "lambda" entry of its message structure.
func lambdaBody(t *testing.T, n *evaluator.Notice) string {
	t.Helper()
	msg, err := snsalerts.Message(n)
	require.NoError(t, err)
	var parts map[string]string
	require.NoError(t, json.Unmarshal([]byte(msg), &parts))
	require.NotEmpty(t, parts["lambda"])
	return parts["lambda"]
}

// TestTheNotifyFunctionReadsWhatTheEvaluatorKnows: published by the evaluate function and read
// by the notify function, an alert keeps its device's name and location, its one-click links,
// its episode's start and its reader's units and time zone (a declared metric's unit too), and
// a digest its alerts: Slack, Teams, webhooks and PagerDuty read what the e-mail reads. A
// message of the default form alone (the alert JSON) is still read.
func TestTheNotifyFunctionReadsWhatTheEvaluatorKnows(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	cat, err := reading.NewCatalog([]reading.Declared{{Name: "supply_temp", Unit: "°C", Min: -50, Max: 150}, {Name: "pm25", Unit: "µg/m³", Min: 0, Max: 1000}})
	require.NoError(t, err)
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	a := alert.Alert{Kind: alert.Open, AlertTime: at, UserID: "alice", DeviceID: "room-1", Rule: alert.TemperatureHigh, Severity: alert.Warning,
		Metric: "temperature", ObservedValue: alert.Num(25), ThresholdValue: alert.Num(24), WindowStartMs: at.Add(-time.Minute).UnixMilli(), WindowEndMs: at.UnixMilli()}
	a.AlertID = alert.ID(&a)
	pm := a
	pm.Rule, pm.Metric, pm.ObservedValue, pm.ThresholdValue = "pm25_high", "pm25", alert.Num(41), alert.Num(35)
	pm.AlertID = alert.ID(&pm)
	alice := &user.User{ID: "alice", Zone: chicago, ZoneName: "America/Chicago", Units: alert.ImperialUnits}
	n := evaluator.Notice{Alert: a, Device: device.Device{ID: "room-1", Name: "Boardroom", Location: "hq/floor-2"}, EpisodeStartMs: 1772445600000,
		AckLink: "https://links.example/a/ACK", SnoozeLink: "https://links.example/s/SNOOZE", Catalog: cat, User: alice}

	m, err := notifylambda.Message(&events.SNSEntity{MessageID: "m1", Message: lambdaBody(t, &n)})
	require.NoError(t, err)
	assert.Equal(t, a, m.Alert)
	assert.Equal(t, n.Device, m.Device)
	assert.Equal(t, n.EpisodeStartMs, m.EpisodeStartMs)
	assert.Equal(t, [2]string{n.AckLink, n.SnoozeLink}, [2]string{m.AckLink, m.SnoozeLink})
	text := notify.DefaultText(&m)
	assert.Contains(t, text.Title, "Boardroom")
	assert.Contains(t, text.Body, "77°F > 75.2°F", "her units")
	assert.Contains(t, text.Body, "08:05:00 CST (America/Chicago)", "her time zone")
	assert.Contains(t, text.Body, "hq/floor-2")

	n.Alert = pm
	m, err = notifylambda.Message(&events.SNSEntity{MessageID: "m2", Message: lambdaBody(t, &n)})
	require.NoError(t, err)
	assert.Contains(t, notify.DefaultText(&m).Body, "41 µg/m³ > 35 µg/m³", "a declared metric's unit")

	digest := alert.NewDigest("alice", at.Add(time.Hour), []alert.Alert{a, pm})
	n = evaluator.Notice{Alert: digest, Held: []alert.Alert{a, pm}, Catalog: cat, User: alice}
	m, err = notifylambda.Message(&events.SNSEntity{MessageID: "m3", Message: lambdaBody(t, &n)})
	require.NoError(t, err)
	assert.Equal(t, n.Held, m.Held)
	body := notify.DefaultText(&m).Body
	assert.Contains(t, body, "2 alerts were held")
	assert.Contains(t, body, "41 µg/m³")

	// A digest listing fewer alerts than it holds (a message too large for all: snsalerts.Message)
	// counts them all and says so.
	n.Held = []alert.Alert{a}
	m, err = notifylambda.Message(&events.SNSEntity{MessageID: "m5", Message: lambdaBody(t, &n)})
	require.NoError(t, err)
	text = notify.DefaultText(&m)
	assert.Contains(t, text.Title, "2 alerts held")
	assert.Contains(t, text.Body, "and 1 more, not listed here")

	// The notify function of the version before (during a deploy) reads the lambda entry as the
	// alert it is (found by review: a nested form was dropped as "not an alert").
	var old alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lambdaBody(t, &evaluator.Notice{Alert: a, Device: device.Device{ID: "room-1", Name: "Boardroom"},
		AckLink: "https://links.example/a/ACK", User: alice})), &old))
	assert.Equal(t, a, old)

	plain, err := json.Marshal(a)
	require.NoError(t, err)
	m, err = notifylambda.Message(&events.SNSEntity{MessageID: "m4", Message: string(plain)})
	require.NoError(t, err)
	assert.Equal(t, a, m.Alert)
	assert.Equal(t, device.Device{ID: "room-1"}, m.Device, "the default form: the id alone")
}
