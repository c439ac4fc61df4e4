package runner_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
	"github.com/iotwatch/iotwatch/shared/tools/backtest"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// pipeline runs runner.Run until stop is called, and returns the broker address.
type pipeline struct {
	addr    string
	stop    context.CancelFunc
	done    chan struct{}
	summary runner.Summary
	err     error
}

// getPage GETs url with client: the status and the body.
func getPage(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func start(t *testing.T, lakeDir, thresholds string, opts ...func(*runner.Config)) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{stop: cancel, done: make(chan struct{})}
	ready := make(chan string, 1)
	cfg := runner.Config{Lake: lakeDir, Thresholds: thresholds, MQTT: "127.0.0.1:0", Clock: runner.ClockWatermark, // the data are old
		Stream: stream.Config{Shards: 2, BatchSize: 200, BatchWindow: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond},
		Ready:  func(a string) { ready <- a }}
	for _, o := range opts {
		o(&cfg)
	}
	go func() {
		defer close(p.done)
		p.summary, p.err = runner.Run(ctx, cfg)
	}()
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("pipeline did not start: %v", p.err)
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline did not start in 10 s")
	}
	return p
}

func (p *pipeline) finish(t *testing.T) runner.Summary {
	t.Helper()
	p.stop()
	<-p.done
	if p.err != nil {
		t.Fatalf("run: %v", p.err)
	}
	return p.summary
}

// readLake returns every JSON line under root/prefix.
func readLake(t *testing.T, root, prefix string) []string {
	t.Helper()
	var out []string
	filepath.Walk(filepath.Join(root, prefix), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		return nil
	})
	return out
}

func alertIDs(t *testing.T, lines []string) []string {
	var ids []string
	for _, l := range lines {
		var a alert.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		ids = append(ids, a.AlertID)
	}
	sort.Strings(ids)
	return ids
}

// recorder keeps the messages the broker acknowledged.
type recorder struct {
	mu   sync.Mutex
	msgs []simulate.Message
}

func (r *recorder) acked(m simulate.Message, _ time.Time) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// messageSource replays recorded messages.
type messageSource struct{ msgs []simulate.Message }

func (s *messageSource) Next() (backtest.Message, error) {
	if len(s.msgs) == 0 {
		return backtest.Message{}, fmtEOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return backtest.Message{Data: m.Payload}, nil
}

var fmtEOF = io.EOF

func thresholdsFile(t *testing.T) (string, []threshold.Config) {
	path := "../../../events/thresholds.csv"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfgs, err := threshold.ParseCSV(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfgs
}

func TestEndToEndOverMQTT(t *testing.T) {
	th, cfgs := thresholdsFile(t)
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th)
	data, err := os.ReadFile("../../../events/occupancy/datatest.txt")
	if err != nil {
		t.Fatal(err)
	}
	src, err := simulate.NewDevices(data, "datatest.txt", 2)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	anomalies := simulate.NewAnomalies(src, 0.02, 7)
	res, err := simulate.Publish(context.Background(), anomalies, simulate.Options{Broker: p.addr, Acked: rec.acked})
	if err != nil {
		t.Fatal(err)
	}
	sum := p.finish(t)
	if res.Acked != res.Published || int64(res.Acked) != sum.Messages {
		t.Errorf("published %d, acknowledged %d, the pipeline accepted %d", res.Published, res.Acked, sum.Messages)
	}

	// Bronze holds every acknowledged message exactly once (malformed ones under errors/bronze).
	bronze := append(readLake(t, lakeDir, "bronze"), readLake(t, lakeDir, "errors/bronze")...)
	want := make([]string, len(rec.msgs))
	for i, m := range rec.msgs {
		want[i] = string(m.Payload)
	}
	sort.Strings(bronze)
	sort.Strings(want)
	if strings.Join(bronze, "\n") != strings.Join(want, "\n") {
		t.Errorf("bronze holds %d lines; %d messages were acknowledged", len(bronze), len(want))
	}

	// The alerts equal a backtest of the same messages.
	var btIDs []string
	rules := map[alert.Rule]int{}
	_, err = backtest.Run(cfgs, &messageSource{msgs: rec.msgs}, backtest.Options{}, func(a alert.Alert) error {
		btIDs = append(btIDs, a.AlertID)
		rules[a.Rule]++
		return nil
	}, func(backtest.Rejected) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(btIDs)
	got := alertIDs(t, readLake(t, lakeDir, "alerts"))
	if len(btIDs) == 0 || strings.Join(got, ",") != strings.Join(btIDs, ",") {
		t.Errorf("pipeline raised %d alerts; the backtest %d", len(got), len(btIDs))
	}
	rejected := 0
	for _, n := range sum.Rejected {
		rejected += n
	}
	if rejected == 0 || rejected != anomalies.Counts["malformed"] || len(readLake(t, lakeDir, "quarantine")) != rejected {
		t.Errorf("rejected %d (%v), malformed sent %d", rejected, sum.Rejected, anomalies.Counts["malformed"])
	}
	// The simulator's spike, stuck and dropout anomalies raise the second edition's rules.
	for _, r := range []alert.Rule{alert.TemperatureAnomaly, alert.SensorStuck, alert.DeviceSilent} {
		assert.NotZero(t, rules[r], "no %s alert: %v", r, rules)
	}
	t.Logf("%d messages, %d alerts (%v), anomalies %v; %s", res.Acked, len(got), rules, anomalies.Counts, sum)
}

func TestStopDuringLoadLosesNothingAcknowledged(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th)
	data, _ := os.ReadFile("../../../events/occupancy/datatest2.txt")
	src, _ := simulate.NewDevices(data, "datatest2.txt", 3)
	rec := &recorder{}
	go func() {
		for {
			rec.mu.Lock()
			n := len(rec.msgs)
			rec.mu.Unlock()
			if n > 5000 {
				p.stop() // SIGINT in the middle of the load
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	res, _ := simulate.Publish(context.Background(), src, simulate.Options{Broker: p.addr, Acked: rec.acked, Timeout: 2 * time.Second})
	<-p.done
	if p.err != nil {
		t.Fatal(p.err)
	}
	bronze := map[string]int{}
	for _, l := range readLake(t, lakeDir, "bronze") {
		bronze[l]++
	}
	lost, doubled := 0, 0
	for _, m := range rec.msgs {
		switch bronze[string(m.Payload)] {
		case 0:
			lost++
		case 1:
		default:
			doubled++
		}
	}
	if lost > 0 || doubled > 0 || len(rec.msgs) < 5000 || len(rec.msgs) >= 29256 {
		t.Errorf("%d acknowledged of %d published: %d lost, %d doubled in bronze", len(rec.msgs), res.Published, lost, doubled)
	}
	t.Logf("stopped after %d acknowledged messages; bronze holds %d", len(rec.msgs), len(bronze))
}

func TestRestartKeepsOpenEpisodes(t *testing.T) {
	lakeDir := t.TempDir()
	th := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(th, []byte("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\nalice,room-1,24,30,,,,0\n"), 0o644)
	reading := func(min int, temp float64) string {
		return fmt.Sprintf(`{"device_id":"room-1","event_time":"2026-03-01T08:%02d:00Z","temperature":%g}`, min, temp)
	}
	send := func(addr string, lines ...string) {
		if _, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(strings.Join(lines, "\n"))), simulate.Options{Broker: addr}); err != nil {
			t.Fatal(err)
		}
	}
	p := start(t, lakeDir, th)
	send(p.addr, reading(0, 25), reading(1, 25.5))
	p.finish(t)
	p = start(t, lakeDir, th)
	send(p.addr, reading(2, 26), reading(3, 22))
	sum := p.finish(t)
	var kinds []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		var a alert.Alert
		json.Unmarshal([]byte(l), &a)
		kinds = append(kinds, fmt.Sprintf("%s@%s", a.Kind, a.AlertTime.Format("04")))
	}
	sort.Strings(kinds)
	if strings.Join(kinds, " ") != "OPEN@00 RESOLVE@03" {
		t.Errorf("alerts across a restart: %v; want one OPEN and its RESOLVE (%s)", kinds, sum)
	}
}

// failingCall refuses every alert of its n-th call (1-based), and passes every other call on.
type failingCall struct {
	next  evaluator.Publisher
	n     int
	mu    sync.Mutex
	calls int
}

// waitCalls waits until Publish was called n times.
func (f *failingCall) waitCalls(t *testing.T, n int) {
	t.Helper()
	wait.Until(t, 10*time.Second, fmt.Sprintf("%d calls of the publisher", n), func() (int, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.calls, f.calls >= n
	})
}

func (f *failingCall) Publish(ctx context.Context, ns []evaluator.Notice) []error {
	f.mu.Lock()
	f.calls++
	fail := f.calls == f.n
	f.mu.Unlock()
	if !fail {
		return f.next.Publish(ctx, ns)
	}
	errs := make([]error, len(ns))
	for i := range errs {
		errs[i] = errors.New("publisher down")
	}
	return errs
}

// TestFailedPublishIsRetriedAndSentOnce is the regression test of the lost alert through the
// whole local pipeline: the publish of an ESCALATE fails, the stream retries the batch, and
// each alert lands in the lake once. When the file store handed out the state it kept, the
// failed batch had already moved that state to VIOLATION and the retry raised nothing.
func TestFailedPublishIsRetriedAndSentOnce(t *testing.T) {
	lakeDir := t.TempDir()
	th := filepath.Join(t.TempDir(), "t.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\nalice,room-1,24,26,,,,0\n"), 0o644))
	send := func(addr string, lines ...string) {
		_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(strings.Join(lines, "\n"))), simulate.Options{Broker: addr})
		require.NoError(t, err)
	}
	reading := func(min int, temp float64) string {
		return fmt.Sprintf(`{"device_id":"room-1","event_time":"2026-03-01T08:%02d:00Z","temperature":%g}`, min, temp)
	}
	fc := &failingCall{n: 2}
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.WrapPublisher = func(next evaluator.Publisher) evaluator.Publisher { fc.next = next; return fc }
	})
	send(p.addr, reading(0, 25)) // OPEN: published (call 1), state saved
	fc.waitCalls(t, 1)
	send(p.addr, reading(1, 27)) // ESCALATE: publish fails (call 2), the stream retries (call 3)
	fc.waitCalls(t, 3)
	send(p.addr, reading(2, 20)) // RESOLVE
	sum := p.finish(t)
	var kinds []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		kinds = append(kinds, fmt.Sprintf("%s@%s", a.Kind, a.AlertTime.Format("04")))
	}
	sort.Strings(kinds)
	assert.Equal(t, []string{"ESCALATE@01", "OPEN@00", "RESOLVE@02"}, kinds, "each alert once, the retried ESCALATE included")
	assert.GreaterOrEqual(t, sum.Retries, int64(1), "the failed batch was retried (%s)", sum)
}

// TestQuietHoursInTheLocalPipeline: with a users file, alice's WARNING alerts in her quiet hours
// are stored in the lake marked quiet_hours, her VIOLATION alerts and everyone else's are not,
// and the alerts (their ids) are exactly a backtest's, which knows nothing of users.
func TestQuietHoursInTheLocalPipeline(t *testing.T) {
	th, cfgs := thresholdsFile(t)
	users := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(users, []byte("user_id,timezone,quiet_hours,quiet_min_severity\nalice,UTC,00:00-23:59,VIOLATION\nops,UTC,00:00-23:59,WARNING\n"), 0o644))
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th, func(c *runner.Config) { c.Users = users })
	data, err := os.ReadFile("../../../events/occupancy/datatest.txt")
	require.NoError(t, err)
	src, err := simulate.NewDevices(data, "datatest.txt", 1)
	require.NoError(t, err)
	rec := &recorder{}
	_, err = simulate.Publish(context.Background(), src, simulate.Options{Broker: p.addr, Acked: rec.acked})
	require.NoError(t, err)
	p.finish(t)

	var btIDs []string
	_, err = backtest.Run(cfgs, &messageSource{msgs: rec.msgs}, backtest.Options{}, func(a alert.Alert) error { btIDs = append(btIDs, a.AlertID); return nil },
		func(backtest.Rejected) error { return nil })
	require.NoError(t, err)
	sort.Strings(btIDs)
	var lines, digests []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		if strings.Contains(l, `"kind":"DIGEST"`) {
			digests = append(digests, l)
		} else {
			lines = append(lines, l)
		}
	}
	assert.Equal(t, btIDs, alertIDs(t, lines), "the same alerts as a backtest without users")
	var digestDays []string
	for _, l := range digests {
		var d alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		digestDays = append(digestDays, fmt.Sprintf("%s %s", d.AlertTime.Format(time.RFC3339), d.ObservedValue))
	}
	sort.Strings(digestDays)
	// The recording ends on 2015-02-04 at 10:43 (the watermark): the quiet hours of the 2nd and
	// the 3rd ended at 23:59, those of the 4th had not.
	assert.Equal(t, []string{"2015-02-02T23:59:00Z 3", "2015-02-03T23:59:00Z 5"}, digestDays, "one digest a night, of what it held")
	held := map[string]int{}
	for _, l := range lines {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		quiet := a.AlertTime.UTC().Format("15:04") != "23:59"
		want := alert.Suppression("")
		if a.UserID == "alice" && a.Severity == alert.Warning && quiet {
			want = alert.QuietHours
		}
		assert.Equal(t, want, a.Suppressed, "%s %s %s %s at %s", a.UserID, a.Rule, a.Kind, a.Severity, a.AlertTime)
		held[a.UserID+" "+string(a.Suppressed)]++
	}
	assert.NotZero(t, held["alice quiet_hours"], "%v", held)
	t.Logf("alerts by user and suppression: %v", held)
	kept, err := filestore.Open(th, "", filepath.Join(lakeDir, "state"), nil)
	require.NoError(t, err)
	left, err := kept.Held(context.Background(), "alice")
	require.NoError(t, err)
	assert.Len(t, left, 1, "the 4th's OPEN waits for that night's digest, across a restart")
}

// syncBuffer is a bytes.Buffer safe for the run's writer and the test's reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestLinksInTheLocalPipeline: with --http, the printed alerts carry one-click links served by the
// run itself; confirming one acknowledges the episode (no REMIND follows), and the lake keeps an
// ACK row; the secret survives a restart in the lake.
func TestLinksInTheLocalPipeline(t *testing.T) {
	th := filepath.Join(t.TempDir(), "thresholds.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning,remind_seconds\nalice,room-1,24,300\n"), 0o644))
	lakeDir := t.TempDir()
	out := &syncBuffer{}
	linksAddr := make(chan string, 1)
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.HTTP, c.Alerts, c.LinksReady = "127.0.0.1:0", out, func(a string) { linksAddr <- a }
	})
	addr := <-linksAddr
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute) // links expire: the readings are recent
	publish := func(from, to int) {
		var lines strings.Builder
		for m := from; m < to; m++ {
			fmt.Fprintf(&lines, `{"device_id":"room-1","event_time":%q,"temperature":25}`+"\n", t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
		}
		_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(lines.String())), simulate.Options{Broker: p.addr})
		require.NoError(t, err)
	}
	publish(0, 2)
	var ack string
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "acknowledge:" {
				ack = f[1]
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no link printed: %s", out.String())
	assert.True(t, strings.HasPrefix(ack, "http://"+addr+"/a/room-1/"), ack)
	res, err := http.Post(ack, "application/x-www-form-urlencoded", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Contains(t, string(body), "Acknowledged")
	publish(2, 12) // ten more minutes at 25: a REMIND at 08:05, had alice not acknowledged
	p.finish(t)
	var kinds []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		kinds = append(kinds, string(a.Kind)+" "+a.Via)
	}
	assert.ElementsMatch(t, []string{"OPEN ", "ACK link"}, kinds)
	secret, err := os.ReadFile(filepath.Join(lakeDir, "state", "link-secret"))
	require.NoError(t, err)
	assert.Len(t, secret, 32)
}

// TestBasicIngestTopic: readings published to the rule's Basic Ingest topic
// ($aws/rules/RULE/devices/{id}/readings) are the same readings as on the classic topic.
func TestBasicIngestTopic(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th)
	var lines strings.Builder
	for m := range 5 {
		fmt.Fprintf(&lines, `{"device_id":"room-1","event_time":"2026-03-01T08:0%d:00Z","temperature":21}`+"\n", m)
	}
	res, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(lines.String())), simulate.Options{Broker: p.addr, BasicIngest: "iotwatch_Rule"})
	require.NoError(t, err)
	assert.Equal(t, 5, res.Acked)
	sum := p.finish(t)
	assert.Equal(t, int64(5), sum.Messages)
	assert.Equal(t, 5, sum.Readings)
	assert.Len(t, readLake(t, lakeDir, "bronze"), 5)
}

// TestProgressShowsRejectionsAsTheyHappen: the progress line counts the readings refused since
// the line before, by reason (readings an hour ahead of the clock are future_event_time).
func TestProgressShowsRejectionsAsTheyHappen(t *testing.T) {
	th, _ := thresholdsFile(t)
	progress := &syncBuffer{}
	p := start(t, t.TempDir(), th, func(c *runner.Config) { c.Progress = progress })
	var lines strings.Builder
	ahead := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	for m := range 3 {
		fmt.Fprintf(&lines, `{"device_id":"room-1","event_time":%q,"temperature":21}`+"\n", ahead.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
	}
	lines.WriteString(`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":"warm"}` + "\n")
	res, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(lines.String())), simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	require.Equal(t, 4, res.Acked)
	re := regexp.MustCompile(`rejected (\d+): (.*)`)
	counted := func() (int, bool) {
		total := 0
		for _, g := range re.FindAllStringSubmatch(progress.String(), -1) {
			n, _ := strconv.Atoi(g[1])
			total += n
			assert.Regexp(t, `^(bad_metric \d+|future_event_time \d+|bad_metric \d+, future_event_time \d+)$`, g[2])
		}
		return total, total >= 4
	}
	wait.Until(t, 10*time.Second, "progress lines with the 4 rejections", counted)
	sum := p.finish(t)
	assert.Equal(t, 4, reading.Counts(sum.Rejected).Total())
	total, _ := counted()
	assert.Equal(t, 4, total, "each rejection on one progress line: %s", progress.String())
}
