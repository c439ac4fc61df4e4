package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/outbox"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/service/notify"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// receiver is a channel's endpoint on loopback: it answers the scripted faults first (a status,
// with Retry-After when set), then status (200 when 0), and records the requests it accepted.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	faults []fault
	status int
	got    []request
	tries  int
}

type fault struct {
	status     int
	retryAfter string
}

type request struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status int, faults ...fault) *receiver {
	r := &receiver{faults: faults, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if len(r.faults) > 0 {
			f := r.faults[0]
			r.faults = r.faults[1:]
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			w.WriteHeader(f.status)
			return
		}
		if r.status != 0 && r.status != http.StatusOK {
			w.WriteHeader(r.status)
			fmt.Fprintln(w, "refused by the test")
			return
		}
		r.got = append(r.got, request{header: req.Header.Clone(), body: body})
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// episodeReadings are room-1's readings of one escalating episode, for thresholds 24 and 26:
// OPEN (WARNING), ESCALATE (VIOLATION), RESOLVE.
func episodeReadings(hour int) []string {
	r := func(min int, temp float64) string {
		return fmt.Sprintf(`{"device_id":"room-1","event_time":"2026-03-01T%02d:%02d:00Z","temperature":%g}`, hour, min, temp)
	}
	return []string{r(0, 25), r(1, 27), r(2, 20)}
}

func sendLines(t *testing.T, addr string, lines ...string) {
	t.Helper()
	_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(strings.Join(lines, "\n"))), simulate.Options{Broker: addr})
	require.NoError(t, err)
}

const (
	webhookSecret = "whsec_test_secret_1234"
	routingKey    = "0123456789abcdef0123456789abcdef"
)

func notifyThresholds(t *testing.T) string {
	th := filepath.Join(t.TempDir(), "t.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\nalice,room-1,24,26,,,,0\n"), 0o644))
	return th
}

// fastRetries are the senders' settings of the tests: short waits between tries.
var fastRetries = notify.Config{BaseDelay: 10 * time.Millisecond, MaxDelay: 2 * time.Second, Timeout: 5 * time.Second}

// TestChannelsInTheLocalPipeline: one escalating episode through runner.Run with a channels file
// reaches alice's webhook (each signature verifies), Slack, Teams and PagerDuty (trigger,
// trigger, resolve under one dedup_key), through 503s and 429s with Retry-After; a webhook that
// answers 400 leaves each alert in DIR/notify-failed/ with its reason, its target redacted; the
// counters are in the summary and /metrics; and her email channel is skipped.
func TestChannelsInTheLocalPipeline(t *testing.T) {
	webhook := newReceiver(t, 200, fault{status: 503}, fault{status: 429, retryAfter: "1"})
	slack := newReceiver(t, 200, fault{status: 503})
	teams := newReceiver(t, 200, fault{status: 429, retryAfter: "1"})
	pd := newReceiver(t, 200, fault{status: 503}, fault{status: 503})
	refusing := newReceiver(t, http.StatusBadRequest)
	chans := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\n"+
		"alice,webhook,"+webhook.srv.URL+"/hook,,"+webhookSecret+"\n"+
		"alice,slack,"+slack.srv.URL+"/services/T0/B0/X,,\n"+
		"alice,teams,"+teams.srv.URL+"/workflows/x,,\n"+
		"alice,pagerduty,"+routingKey+",,\n"+
		"alice,webhook,"+refusing.srv.URL+"/refuses,,"+webhookSecret+"\n"+
		"alice,email,alice@example.com,,\n"+
		"bob,slack,"+slack.srv.URL+"/services/T0/B0/BOB,,\n"), 0o644))
	lakeDir := t.TempDir()
	ready := make(chan string, 1)
	p := start(t, lakeDir, notifyThresholds(t), func(c *runner.Config) {
		c.Channels = chans
		c.Notify = fastRetries
		c.Notify.PagerDutyURL = pd.srv.URL + "/v2/enqueue"
		c.HTTP = "127.0.0.1:0"
		c.LinksReady = func(a string) { ready <- a }
	})
	links := <-ready
	sendLines(t, p.addr, episodeReadings(8)...)
	var metrics string
	wait.Until(t, 20*time.Second, "every delivery done", func() (string, bool) {
		status, page := getPage(t, http.DefaultClient, "http://"+links+"/metrics")
		metrics = page
		done := strings.Contains(page, "iotwatch_notify_queued 0\n") && strings.Contains(page, `iotwatch_notify_sent_total{channel="pagerduty"} 3`) &&
			strings.Contains(page, `iotwatch_notify_failed_total{channel="webhook"} 3`)
		return page, status == http.StatusOK && done
	})
	sum := p.finish(t)

	landed := alertIDs(t, readLake(t, lakeDir, "alerts"))
	require.Len(t, landed, 3, "OPEN, ESCALATE, RESOLVE landed")
	for name, r := range map[string]*receiver{"webhook": webhook, "slack": slack, "teams": teams} {
		assert.Len(t, r.requests(), 3, "%s: every alert once", name)
	}
	var hooked []string
	for _, req := range webhook.requests() {
		assert.NoError(t, notify.Verify(webhookSecret, req.header.Get(notify.HeaderTimestamp), req.header.Get(notify.HeaderSignature), req.body, time.Now(), 0))
		var a alert.Alert
		require.NoError(t, json.Unmarshal(req.body, &a))
		assert.Equal(t, a.AlertID, req.header.Get(notify.HeaderAlertID))
		hooked = append(hooked, a.AlertID)
	}
	sort.Strings(hooked)
	assert.Equal(t, landed, hooked, "the webhook got the landed alerts")
	for _, req := range slack.requests() {
		var msg struct {
			Text string `json:"text"`
		}
		require.NoError(t, json.Unmarshal(req.body, &msg))
		assert.Contains(t, msg.Text, "room-1")
		assert.Contains(t, msg.Text, "http://"+links+"/device/room-1", "the device page's link")
	}
	for _, req := range teams.requests() {
		assert.Contains(t, string(req.body), notify.AdaptiveCardType)
	}
	var events []string
	keys := map[string]bool{}
	for _, req := range pd.requests() {
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     struct {
				Severity string `json:"severity"`
			} `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(req.body, &ev))
		assert.Equal(t, routingKey, ev.RoutingKey)
		events = append(events, strings.TrimSpace(ev.EventAction+" "+ev.Payload.Severity))
		keys[ev.DedupKey] = true
	}
	assert.Equal(t, []string{"trigger warning", "trigger critical", "resolve"}, events, "in order, one at a time")
	assert.Len(t, keys, 1, "one dedup_key for the episode: %v", keys)

	letters, err := os.ReadDir(filepath.Join(lakeDir, outbox.FailedDir))
	require.NoError(t, err)
	require.Len(t, letters, 3, "each alert refused by the 400 is a dead letter")
	b, err := os.ReadFile(filepath.Join(lakeDir, outbox.FailedDir, letters[0].Name()))
	require.NoError(t, err)
	var l outbox.Letter
	require.NoError(t, json.Unmarshal(b, &l))
	assert.Contains(t, l.Reason, "400")
	assert.Equal(t, 400, l.Status)
	assert.Equal(t, 1, l.Tries, "a 400 is not retried")
	assert.NotContains(t, string(b), "/refuses", "the target is redacted")
	assert.NotContains(t, string(b), webhookSecret)

	c := sum.Notify.Counts
	assert.Equal(t, notify.Counts{Sent: 3, Retried: 2, Failed: 3}, c[channel.Webhook], "%s", sum)
	assert.Equal(t, notify.Counts{Sent: 3, Retried: 1}, c[channel.Slack])
	assert.Equal(t, notify.Counts{Sent: 3, Retried: 1}, c[channel.Teams])
	assert.Equal(t, notify.Counts{Sent: 3, Retried: 2}, c[channel.PagerDuty])
	assert.Zero(t, sum.Notify.Queued)
	assert.Contains(t, sum.String(), "slack sent 3, retried 1, failed 0;")
	assert.Contains(t, metrics, `iotwatch_notify_sent_total{channel="pagerduty"} 3`)
	assert.Contains(t, metrics, "iotwatch_notify_queued 0")
	assert.Contains(t, metrics, `iotwatch_notify_failed_total{channel="webhook"} 3`)
}

// TestUndeliveredChannelsWaitForTheNextStart: a webhook is down during a run that is stopped at
// once (the second Ctrl-C); its alerts stay in DIR/notify/outbox, and the next start, with the
// receiver up, delivers every one of them, then the new ones, in order.
func TestUndeliveredChannelsWaitForTheNextStart(t *testing.T) {
	up := newReceiver(t, 200)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // connections refused: the tries fail until the stop
	chans := filepath.Join(t.TempDir(), "channels.csv")
	writeChans := func(url string) {
		require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,"+url+"/hook,,"+webhookSecret+"\n"), 0o644))
	}
	writeChans(downURL)
	lakeDir, th := t.TempDir(), notifyThresholds(t)
	abort := make(chan struct{})
	progress := &syncBuffer{}
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.Channels, c.Abort, c.Progress = chans, abort, progress
		c.Notify = notify.Config{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxTries: 1000}
	})
	sendLines(t, p.addr, episodeReadings(8)...)
	wait.Until(t, 10*time.Second, "three alerts landed", func() (int, bool) {
		n := len(readLake(t, lakeDir, "alerts"))
		return n, n >= 3
	})
	p.stop()
	close(abort) // killed mid-way: no drain
	<-p.done
	require.NoError(t, p.err)
	assert.Equal(t, int64(3), p.summary.Notify.Queued, "kept: %s", p.summary)
	assert.Contains(t, progress.String(), "queued: kept for the next start")
	assert.Positive(t, p.summary.Notify.Counts[channel.Webhook].Retried)

	// The channel's target moves to a receiver that is up: the same user, kind and target keep
	// the queue, so the down one is put back at the same address instead.
	require.NoError(t, os.RemoveAll(filepath.Join(lakeDir, outbox.FailedDir)))
	back := &http.Server{Handler: up.srv.Config.Handler}
	ln, err := listenOn(strings.TrimPrefix(downURL, "http://"))
	require.NoError(t, err)
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	p = start(t, lakeDir, th, func(c *runner.Config) { c.Channels, c.Notify = chans, fastRetries })
	sendLines(t, p.addr, episodeReadings(9)...)
	sum := p.finish(t)
	var got []string
	for _, req := range up.requests() {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(req.body, &a))
		got = append(got, fmt.Sprintf("%s@%s", a.Kind, a.AlertTime.Format("15:04")))
	}
	assert.Equal(t, []string{"OPEN@08:00", "ESCALATE@08:01", "RESOLVE@08:02", "OPEN@09:00", "ESCALATE@09:01", "RESOLVE@09:02"}, got,
		"the kept ones first, then the new ones (%s)", sum)
	assert.Zero(t, sum.Notify.Queued)
	_, err = os.Stat(filepath.Join(lakeDir, outbox.FailedDir))
	assert.True(t, os.IsNotExist(err), "nothing dead-lettered")
}

// TestABadChannelsEditKeepsTheChannels: an edit of the channels file with a bad row is refused
// (logged with its line and field) and the channels in force still get the alerts; a good edit
// is taken at the next tick.
func TestABadChannelsEditKeepsTheChannels(t *testing.T) {
	first, second := newReceiver(t, 200), newReceiver(t, 200)
	chans := filepath.Join(t.TempDir(), "channels.csv")
	write := func(rows string) {
		require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\n"+rows), 0o644))
	}
	write("alice,slack," + first.srv.URL + "/a,,\n")
	logs := &syncBuffer{}
	p := start(t, t.TempDir(), notifyThresholds(t), func(c *runner.Config) {
		c.Channels, c.Notify = chans, fastRetries
		c.Log = slogTo(logs)
	})
	sendLines(t, p.addr, episodeReadings(8)[0])
	wait.Until(t, 10*time.Second, "the OPEN at the first channel", func() (int, bool) { n := len(first.requests()); return n, n == 1 })
	time.Sleep(10 * time.Millisecond) // another modification time
	write("alice,slack," + second.srv.URL + "/b,,\nalice,pager,xyz,,\n")
	wait.Until(t, 10*time.Second, "the bad edit refused", func() (string, bool) {
		s := logs.String()
		return s, strings.Contains(s, "channels file changed but is invalid")
	})
	assert.Contains(t, logs.String(), "channels.csv:3: channel:", "the line and the field")
	sendLines(t, p.addr, episodeReadings(8)[1])
	wait.Until(t, 10*time.Second, "the ESCALATE at the first channel", func() (int, bool) { n := len(first.requests()); return n, n == 2 })
	write("alice,slack," + second.srv.URL + "/b,,\n")
	wait.Until(t, 10*time.Second, "the good edit taken", func() (string, bool) {
		s := logs.String()
		return s, strings.Contains(s, "channels reloaded")
	})
	sendLines(t, p.addr, episodeReadings(8)[2])
	p.finish(t)
	assert.Len(t, first.requests(), 2, "OPEN and ESCALATE")
	assert.Len(t, second.requests(), 1, "the RESOLVE, after the good edit")
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func listenOn(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// holdingReceiver is a webhook that, while held, never answers (until the caller goes away),
// and once let go records the alert ids it gets.
type holdingReceiver struct {
	mu   sync.Mutex
	held bool
	ids  []string
	seen int // requests, held or not
}

func (h *holdingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	h.seen++
	held := h.held
	h.mu.Unlock()
	if held {
		<-r.Context().Done()
		return
	}
	h.mu.Lock()
	h.ids = append(h.ids, r.Header.Get(notify.HeaderAlertID))
	h.mu.Unlock()
}

// TestKilledRunDeliversAtTheNextStart: a run in its own process is killed (SIGKILL) while its
// webhook hangs on the first alert; the next start delivers all three alerts of the episode
// (the one in flight at the kill possibly twice: at least once).
func TestKilledRunDeliversAtTheNextStart(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("starts and kills processes")
	}
	h := &holdingReceiver{held: true}
	srv := httptest.NewServer(h)
	defer srv.Close()
	chans := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,"+srv.URL+"/hook,,"+webhookSecret+"\n"), 0o644))
	lakeDir, th := filepath.Join(t.TempDir(), "lake"), notifyThresholds(t)
	c := startChild(t, lakeDir, th, 0, "channels="+chans, io.Discard)
	sendLines(t, c.addr, episodeReadings(8)...)
	wait.Until(t, 10*time.Second, "the first delivery hanging", func() (int, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.seen, h.seen > 0
	})
	landed := alertIDs(t, readLake(t, lakeDir, "alerts"))
	require.Len(t, landed, 3)
	require.NoError(t, c.cmd.Process.Kill())
	_ = c.cmd.Wait()

	h.mu.Lock()
	h.held = false
	h.mu.Unlock()
	c = startChild(t, lakeDir, th, 1, "channels="+chans, io.Discard)
	wait.Until(t, 10*time.Second, "the three alerts delivered", func() ([]string, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		got := map[string]bool{}
		for _, id := range h.ids {
			got[id] = true
		}
		return h.ids, len(got) == 3
	})
	require.NoError(t, c.cmd.Process.Signal(os.Interrupt))
	require.NoError(t, c.cmd.Wait(), "the run stops cleanly")
	h.mu.Lock()
	defer h.mu.Unlock()
	got := slices.Compact(slices.Sorted(slices.Values(h.ids)))
	assert.Equal(t, landed, got, "every landed alert delivered after the kill")
	assert.LessOrEqual(t, len(h.ids), 4, "the one in flight at the kill at most twice: %v", h.ids)
}

// TestSuppressedAlertsAreNotDelivered: in alice's quiet hours (WARNING held), her episode's OPEN
// is stored marked quiet_hours and reaches no channel; its ESCALATE and RESOLVE reach Slack, and
// PagerDuty gets a critical trigger and its resolve under one dedup_key.
func TestSuppressedAlertsAreNotDelivered(t *testing.T) {
	slack, pd := newReceiver(t, 200), newReceiver(t, 200)
	users := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(users, []byte("user_id,timezone,quiet_hours,quiet_min_severity\nalice,UTC,00:00-23:59,VIOLATION\n"), 0o644))
	chans := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\n"+
		"alice,slack,"+slack.srv.URL+"/services/T0/B0/X,,\nalice,pagerduty,"+routingKey+",,\n"), 0o644))
	lakeDir := t.TempDir()
	p := start(t, lakeDir, notifyThresholds(t), func(c *runner.Config) {
		c.Users, c.Channels, c.Notify = users, chans, fastRetries
		c.Notify.PagerDutyURL = pd.srv.URL + "/v2/enqueue"
	})
	sendLines(t, p.addr, episodeReadings(8)...)
	sum := p.finish(t)
	suppressed := 0
	for _, l := range readLake(t, lakeDir, "alerts") {
		if strings.Contains(l, `"suppressed":"quiet_hours"`) {
			suppressed++
		}
	}
	require.Equal(t, 1, suppressed, "the OPEN held (%s)", sum)
	var texts []string
	for _, req := range slack.requests() {
		var msg struct {
			Text string `json:"text"`
		}
		require.NoError(t, json.Unmarshal(req.body, &msg))
		texts = append(texts, msg.Text)
	}
	require.Len(t, texts, 2, "the ESCALATE and the RESOLVE: %q", texts)
	var events []string
	keys := map[string]bool{}
	for _, req := range pd.requests() {
		var ev struct {
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     struct {
				Severity string `json:"severity"`
			} `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(req.body, &ev))
		events = append(events, strings.TrimSpace(ev.EventAction+" "+ev.Payload.Severity))
		keys[ev.DedupKey] = true
	}
	assert.Equal(t, []string{"trigger critical", "resolve"}, events)
	assert.Len(t, keys, 1)
}
