package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/outbox"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/notify"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
)

const secret = "whsec_outbox_test_1234"

// landed is the publisher below the outbox: it takes every notice.
type landed struct{}

func (landed) Publish(_ context.Context, ns []evaluator.Notice) []error {
	return make([]error, len(ns))
}

// notices are n OPEN alerts of alice's, numbered from first.
func notices(first, n int) []evaluator.Notice {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	out := make([]evaluator.Notice, n)
	for i := range out {
		k := first + i
		at := t0.Add(time.Duration(k) * time.Second)
		out[i] = evaluator.Notice{Alert: alert.Alert{AlertID: fmt.Sprintf("a%07d", k), Kind: alert.Open, AlertTime: at, UserID: "alice",
			DeviceID: fmt.Sprintf("dev-%d", k%1000), Rule: "temp_high", Severity: alert.Warning, Metric: "temperature",
			ObservedValue: alert.Num(26.5), ThresholdValue: alert.Num(25), WindowStartMs: at.UnixMilli(), WindowEndMs: at.UnixMilli()},
			Device: device.Device{ID: fmt.Sprintf("dev-%d", k%1000), Name: "Server room", Location: "Building A, floor 2"}}
	}
	return out
}

func channelsFile(t *testing.T, url string) string {
	path := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(path, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,"+url+"/hook,,"+secret+"\n"), 0o644))
	return path
}

func heapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// downURL is the address of a server that is no longer there: connections are refused.
func downURL() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// TestMemoryStaysBoundedWhileAChannelIsDown: 20,000 alerts queued for a webhook that refuses
// connections take no more memory than 500 do: they wait on disk, the worker holds one file.
func TestMemoryStaysBoundedWhileAChannelIsDown(t *testing.T) {
	lake := t.TempDir()
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: channelsFile(t, downURL()),
		Notify: notify.Config{BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxTries: 1_000_000}})
	require.NoError(t, err)
	o.Start()
	pub := o.Wrap(landed{})
	const batch = 500
	for _, e := range pub.Publish(context.Background(), notices(0, batch)) {
		require.NoError(t, e)
	}
	wait.Until(t, 5*time.Second, "the first delivery tried", func() (int64, bool) {
		n := o.Stats().Counts[channel.Webhook].Retried
		return n, n > 0
	})
	few := heapMB()
	const many = 20_000
	for i := batch; i < many; i += batch {
		for _, e := range pub.Publish(context.Background(), notices(i, batch)) {
			require.NoError(t, e)
		}
	}
	lots := heapMB()
	st := o.Stats()
	assert.Equal(t, int64(many), st.Queued, "every delivery waits")
	assert.Zero(t, st.Counts[channel.Webhook].Sent)
	var onDisk int64
	filepath.Walk(filepath.Join(lake, outbox.QueueDir), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			onDisk += fi.Size()
		}
		return nil
	})
	t.Logf("live heap with %d deliveries queued: %.1f MB; with %d: %.1f MB; the queue on disk: %.1f MB", batch, few, many, lots, float64(onDisk)/(1<<20))
	// 20,000 alerts in memory would take their JSON at least: ~0.5 KB each, 10 MB.
	assert.Less(t, lots-few, 4.0, "the heap grew by %.1f MB for %d more deliveries queued", lots-few, many-batch)
	assert.Greater(t, float64(onDisk), float64(many)*300, "the queue is on disk")
	assert.Equal(t, int64(many), o.Stop(0, nil, nil), "kept for the next start")
}

// receiver records the alerts a webhook got, in order.
type receiver struct {
	mu    sync.Mutex
	ids   []string
	delay time.Duration // how long it takes to answer
}

func (r *receiver) setDelay(d time.Duration) { r.mu.Lock(); r.delay = d; r.mu.Unlock() }

func (r *receiver) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := notify.Verify(secret, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		delay := r.delay
		r.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get(notify.HeaderAlertID))
		r.mu.Unlock()
	})
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// TestSlowChannelNeverBlocksPublish: with a webhook that answers in 2 s, Publish returns as soon
// as the queue is written; a stop waits its drain, prints what is in flight and queued, and the
// next Open delivers the rest, each alert at least once and in order.
func TestSlowChannelNeverBlocksPublish(t *testing.T) {
	rec := &receiver{delay: 2 * time.Second}
	srv := httptest.NewServer(rec.handler())
	defer srv.Close()
	lake, chans := t.TempDir(), channelsFile(t, srv.URL)
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: chans})
	require.NoError(t, err)
	o.Start()
	pub := o.Wrap(landed{})
	start := time.Now()
	for i := 0; i < 10; i++ {
		for _, e := range pub.Publish(context.Background(), notices(i*10, 10)) {
			require.NoError(t, e)
		}
	}
	took := time.Since(start)
	assert.Less(t, took, 2*time.Second, "100 alerts published in %s, while each delivery takes 2 s", took)
	var progress strings.Builder
	left := o.Stop(2500*time.Millisecond, &progress, nil)
	want := make([]string, 100)
	for i := range want {
		want[i] = fmt.Sprintf("a%07d", i)
	}
	// 2 s an answer: one or two delivered by the end of the drain (the first began with the
	// first publish), the one in flight then cancelled and kept.
	delivered := 100 - int(left)
	assert.True(t, delivered >= 1 && delivered <= 2, "%d left after the drain (%v)", left, rec.got())
	assert.Regexp(t, `notify: 1 deliveries in flight, (100|99) queued \(at most \d+s more`, progress.String())
	assert.Contains(t, progress.String(), fmt.Sprintf("notify: 1 deliveries in flight, %d queued: kept for the next start", left))
	assert.Equal(t, want[:delivered], rec.got())

	rec.setDelay(0)
	o, err = outbox.Open(outbox.Config{Lake: lake, Channels: chans})
	require.NoError(t, err)
	assert.Equal(t, left, o.Stats().Queued, "found at the start")
	o.Start()
	wait.Until(t, 10*time.Second, "the rest delivered", func() (int64, bool) {
		q := o.Stats().Queued
		return q, q == 0
	})
	assert.Zero(t, o.Stop(time.Second, nil, nil))
	// Each in order; the one cancelled at the stop may have been taken too (at least once).
	assert.Equal(t, want, slices.Compact(rec.got()))
}

// TestRefusedDeliveryIsADeadLetter: a 400 is not retried; the dead letter is a readable JSON
// file with the reason and the redacted target, never the secret.
func TestRefusedDeliveryIsADeadLetter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad payload", http.StatusBadRequest)
	}))
	defer srv.Close()
	lake := t.TempDir()
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: channelsFile(t, srv.URL)})
	require.NoError(t, err)
	o.Start()
	o.Wrap(landed{}).Publish(context.Background(), notices(0, 2))
	assert.Zero(t, o.Stop(5*time.Second, nil, nil))
	files, err := filepath.Glob(filepath.Join(lake, outbox.FailedDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var l outbox.Letter
	require.NoError(t, json.Unmarshal(b, &l))
	assert.Equal(t, "a0000000", l.Alert.AlertID)
	assert.Equal(t, 1, l.Tries)
	assert.Equal(t, http.StatusBadRequest, l.Status)
	assert.Contains(t, l.Reason, "refused: HTTP 400")
	assert.Equal(t, channel.Webhook, l.Kind)
	assert.NotContains(t, string(b), "/hook")
	assert.NotContains(t, string(b), secret)
	assert.Equal(t, notify.Counts{Failed: 2}, o.Stats().Counts[channel.Webhook])
}

// TestBadChannelsFileIsRefused: an invalid channels file refuses the start, with its line and
// field.
func TestBadChannelsFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(path, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,http://example.com/hook,,"+secret+"\n"), 0o644))
	_, err := outbox.Open(outbox.Config{Lake: t.TempDir(), Channels: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "channels.csv:2: target")
}

// TestTheExampleChannelsFileIsValid: events/channels.csv, the placeholders the docs point at,
// is a valid channels file.
func TestTheExampleChannelsFileIsValid(t *testing.T) {
	o, err := outbox.Open(outbox.Config{Lake: t.TempDir(), Channels: "../../../events/channels.csv"})
	require.NoError(t, err)
	assert.Len(t, o.Channels(), 5)
}

// TestARemovedChannelsQueueIsDeadLettered: alerts queued for a channel that is no longer in the
// channels file at the next start go to the dead letters with the reason, not to another channel.
func TestARemovedChannelsQueueIsDeadLettered(t *testing.T) {
	lake, chans := t.TempDir(), channelsFile(t, downURL())
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: chans,
		Notify: notify.Config{BaseDelay: 50 * time.Millisecond, MaxTries: 1_000_000}})
	require.NoError(t, err)
	o.Start()
	o.Wrap(landed{}).Publish(context.Background(), notices(0, 2))
	require.Equal(t, int64(2), o.Stop(0, nil, nil))

	rec := &receiver{}
	srv := httptest.NewServer(rec.handler())
	defer srv.Close()
	require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,"+srv.URL+"/other,,"+secret+"\n"), 0o644))
	o, err = outbox.Open(outbox.Config{Lake: lake, Channels: chans})
	require.NoError(t, err)
	o.Start()
	assert.Zero(t, o.Stop(5*time.Second, nil, nil))
	assert.Empty(t, rec.got(), "not sent to another channel")
	files, err := filepath.Glob(filepath.Join(lake, outbox.FailedDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	b, err := os.ReadFile(files[1])
	require.NoError(t, err)
	var l outbox.Letter
	require.NoError(t, json.Unmarshal(b, &l))
	assert.Equal(t, "channel removed from the channels file", l.Reason)
	assert.Equal(t, "a0000001", l.Alert.AlertID)
}

// TestDigestsAndSuppression: a suppressed alert goes to no channel; the digest that lists it goes
// to the user's channels that would have taken it (here the WARNING webhook), never to
// PagerDuty nor to a VIOLATION channel.
func TestDigestsAndSuppression(t *testing.T) {
	warn, viol := &receiver{}, &receiver{}
	var srvs []*httptest.Server
	for _, r := range []*receiver{warn, viol} {
		srv := httptest.NewServer(r.handler())
		defer srv.Close()
		srvs = append(srvs, srv)
	}
	var pdRequests atomic.Int64 // any request at all
	pd := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { pdRequests.Add(1) }))
	defer pd.Close()
	path := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(path, []byte("user_id,channel,target,min_severity,secret\n"+
		"alice,webhook,"+srvs[0].URL+"/warn,WARNING,"+secret+"\n"+
		"alice,webhook,"+srvs[1].URL+"/viol,VIOLATION,"+secret+"\n"+
		"alice,pagerduty,0123456789abcdef0123456789abcdef,,\n"), 0o644))
	o, err := outbox.Open(outbox.Config{Lake: t.TempDir(), Channels: path, Notify: notify.Config{PagerDutyURL: pd.URL}})
	require.NoError(t, err)
	o.Start()
	held := notices(0, 1)
	held[0].Alert.Suppressed = alert.QuietHours
	digest := evaluator.Notice{Alert: alert.Alert{AlertID: "d1", Kind: alert.Digest, AlertTime: held[0].Alert.AlertTime.Add(time.Hour),
		UserID: "alice", Severity: alert.Warning, ObservedValue: alert.Num(1), WindowStartMs: held[0].Alert.WindowStartMs,
		WindowEndMs: held[0].Alert.AlertTime.Add(time.Hour).UnixMilli()}, Held: []alert.Alert{held[0].Alert}}
	for _, e := range o.Wrap(landed{}).Publish(context.Background(), append(held, digest)) {
		require.NoError(t, e)
	}
	assert.Zero(t, o.Stop(5*time.Second, nil, nil))
	assert.Equal(t, []string{"d1"}, warn.got(), "the digest only")
	assert.Empty(t, viol.got())
	assert.Zero(t, pdRequests.Load(), "no incident for a held WARNING nor a digest")
}
