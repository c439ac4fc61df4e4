package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/outbox"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// readingsOf makes n readings over devices, a device's readings a second apart. The temperature
// crosses the threshold (sustain 0) at every reading when every is 1, so that every reading
// raises an alert (OPEN, RESOLVE, OPEN, …); with every = 100 one reading in 100 does (a spike
// of one reading: its OPEN, then the RESOLVE of the next).
func readingsOf(n, devices, every int, start time.Time) [][]byte {
	return readingsWith(n, devices, every, start, "")
}

// fourMetrics are the readings' other metrics in the cases with rules on four metrics.
const fourMetrics = `,"humidity":40,"co2":600,"light":300`

// readingsWith is readingsOf with more fields after the temperature.
func readingsWith(n, devices, every int, start time.Time, more string) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		d, k := i%devices, i/devices
		temp := 20.0
		switch {
		case every == 1 && k%2 == 0, every > 1 && k%(2*every) == 0:
			temp = 30
		}
		out = append(out, fmt.Appendf(nil, `{"device_id":"dev-%d","event_time":%q,"temperature":%g%s,"msg_id":"%d"}`,
			d, start.Add(time.Duration(k)*time.Second).Format(time.RFC3339), temp, more, k))
	}
	return out
}

// sliceSource publishes msgs, each on its device's topic, and notes when each was sent. The
// topics are read before the clock starts: the publisher's work is the same in every case.
type sliceSource struct {
	msgs   [][]byte
	topics []string
	sent   []time.Time
	mu     sync.Mutex
}

func newSliceSource(msgs [][]byte) *sliceSource {
	s := &sliceSource{msgs: msgs, topics: make([]string, len(msgs)), sent: make([]time.Time, 0, len(msgs))}
	for i, m := range msgs {
		var r struct {
			DeviceID string `json:"device_id"`
		}
		json.Unmarshal(m, &r)
		s.topics[i] = "devices/" + r.DeviceID + "/readings"
	}
	return s
}

func (s *sliceSource) Next() (simulate.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.sent)
	if i == len(s.msgs) {
		return simulate.Message{}, io.EOF
	}
	s.sent = append(s.sent, time.Now())
	return simulate.Message{Topic: s.topics[i], Payload: s.msgs[i]}, nil
}

// alertTimes records when each alert line is printed, by its device and alert time. Write only
// keeps the bytes and the time (it runs inside the pipeline's publish); at reads them after.
type alertTimes struct {
	mu     sync.Mutex
	writes []timedWrite
}

type timedWrite struct {
	at   time.Time
	data []byte
}

func (a *alertTimes) Write(p []byte) (int, error) {
	now := time.Now()
	a.mu.Lock()
	a.writes = append(a.writes, timedWrite{now, append([]byte(nil), p...)})
	a.mu.Unlock()
	return len(p), nil
}

// at maps "device alert_time" to when its line was printed.
func (a *alertTimes) at() map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]time.Time{}
	for _, w := range a.writes {
		sc := bufio.NewScanner(bytes.NewReader(w.data))
		for sc.Scan() {
			f := strings.Fields(sc.Text()) // ALERT time kind severity rule device user=… …
			if len(f) > 5 && f[0] == "ALERT" {
				out[f[5]+" "+f[1]] = w.at
			}
		}
	}
	return out
}

func benchThresholds(b *testing.B, devices int) string {
	var sb strings.Builder
	sb.WriteString("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n")
	for d := 0; d < devices; d++ {
		fmt.Fprintf(&sb, "alice,dev-%d,25,,,,,0\n", d)
	}
	path := filepath.Join(b.TempDir(), "t.csv")
	os.WriteFile(path, []byte(sb.String()), 0o644)
	return path
}

// benchRules is a rules file of the fleet's rows on four metrics (high and low on temperature,
// humidity, CO2 and light, and silent) that the readings of fourMetrics never cross: the same
// alerts as the thresholds file alone, with 9 more rules judged at every reading.
func benchRules(b *testing.B) string {
	rows := "user_id,scope,metric,rule,warning,violation\n" +
		"ops,fleet,temperature,high,35,40\nops,fleet,temperature,low,10,5\n" +
		"ops,fleet,humidity,high,80,90\nops,fleet,humidity,low,20,10\n" +
		"ops,fleet,co2,high,1500,2000\nops,fleet,co2,low,300,200\n" +
		"ops,fleet,light,high,2000,3000\nops,fleet,light,low,10,5\n" +
		"ops,fleet,,silent,3600,\n"
	path := filepath.Join(b.TempDir(), "rules.csv")
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// The benchmarks' fleet and load.
const (
	benchDevices  = 1000
	benchReadings = 100000
)

var benchStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// brokerOnly publishes msgs to the same broker with nothing behind it (each message acknowledged
// as it arrives) and returns messages per second: the ceiling of the pipeline on this machine.
func brokerOnly(b *testing.B, msgs [][]byte) float64 {
	br, err := broker.Start(broker.Options{Addr: "127.0.0.1:0"}, func(_ string, _ []byte, done func(error)) { done(nil) })
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	src := newSliceSource(msgs)
	start := time.Now()
	res, err := simulate.Publish(context.Background(), src, simulate.Options{Broker: br.Addr(), Inflight: 512})
	if err != nil || res.Acked != len(msgs) {
		b.Fatalf("%d of %d acknowledged: %v", res.Acked, len(msgs), err)
	}
	return float64(len(msgs)) / time.Since(start).Seconds()
}

// BenchmarkBrokerOnly is the ceiling: the same mochi broker and the same publisher (simulate,
// QoS 1, 512 in flight) with nothing behind the broker.
func BenchmarkBrokerOnly(b *testing.B) {
	msgs := readingsOf(benchReadings, benchDevices, 100, benchStart)
	var rate float64
	for i := 0; i < b.N; i++ {
		rate = brokerOnly(b, msgs)
	}
	b.ReportMetric(rate, "msgs/s")
}

// BenchmarkLocalPipeline: readings from MQTT publish to bronze and alert on this machine, with
// the durable log, for 1,000 devices. typical: 100,000 readings as fast as one publisher goes,
// until drained, 1% of them raising an alert; max: the same with every reading raising one;
// rate=5000: 25,000 readings at 5,000/s, the latency from publish to the alert being printed,
// p50 and p99. Each case measures the bare broker's ceiling (BrokerOnly) in the same run and
// reports the share of it reached, the log's fsyncs per second and its bytes per reading. The
// -webhook2s and -webhookdown cases give every alert a channel (issue 25): a webhook that answers
// in 2 s, or one that refuses connections; their share of the ceiling is the cases' without
// channels when delivery never slows the evaluation, and heap-MB (the live heap once every
// reading is published) stays the same while thousands of deliveries wait on disk.
func BenchmarkLocalPipeline(b *testing.B) {
	type result struct {
		rps, fsyncs, bytesPerReading, stateFsyncs, commitMs float64
		lat                                                 []time.Duration
		heapMB                                              float64 // live heap once every reading is published
		notify                                              *outbox.Stats
	}
	run := func(b *testing.B, msgs [][]byte, rate float64, rules, channels string) result {
		n := len(msgs)
		lakeDir := b.TempDir()
		at := &alertTimes{}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan runner.Summary, 1)
		go func() {
			sum, err := runner.Run(ctx, runner.Config{Lake: lakeDir, Thresholds: benchThresholds(b, benchDevices), Rules: rules, MQTT: "127.0.0.1:0",
				Stream: stream.Config{Shards: 2}, // the defaults of iotwatch run
				// The readings' times are of 2026-03-01: judged on the wall clock, every device would
				// be silent for months at each check (the silent rule of the rules' cases).
				Clock:  runner.ClockWatermark,
				Alerts: at, Ready: func(a string) { ready <- a },
				// With a channel: the stop keeps the queue for the next start at once (the figure is
				// the evaluation's; a stop's drain is bounded by --notify-drain, 10 s by default).
				Channels: channels, NotifyDrain: time.Millisecond})
			if err != nil {
				b.Error(err)
			}
			done <- sum
		}()
		addr := <-ready
		src := newSliceSource(msgs)
		start := time.Now()
		if _, err := simulate.Publish(context.Background(), src, simulate.Options{Broker: addr, Rate: rate, Inflight: 512}); err != nil {
			b.Fatal(err)
		}
		heap := liveHeapMB()
		cancel()
		sum := <-done
		elapsed := time.Since(start)
		if sum.Readings != n || sum.Bronze != int64(n) {
			b.Fatalf("%d readings evaluated, %d in bronze; want %d", sum.Readings, sum.Bronze, n)
		}
		r := result{rps: float64(n) / elapsed.Seconds(), fsyncs: float64(sum.Log.Syncs) / elapsed.Seconds(),
			bytesPerReading: float64(sum.Log.Written) / float64(n), stateFsyncs: float64(sum.StateLog.Syncs) / elapsed.Seconds(),
			commitMs: float64(sum.Log.SyncTime.Microseconds()) / 1000 / float64(max(sum.Log.Syncs, 1)), heapMB: heap}
		if channels != "" {
			r.notify = &sum.Notify
		}
		printed := at.at()
		for i, m := range src.msgs {
			var rd struct {
				DeviceID  string `json:"device_id"`
				EventTime string `json:"event_time"`
			}
			json.Unmarshal(m, &rd)
			if t, ok := printed[rd.DeviceID+" "+rd.EventTime]; ok {
				r.lat = append(r.lat, t.Sub(src.sent[i]))
			}
		}
		return r
	}
	pct := func(lat []time.Duration, q float64) float64 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	report := func(b *testing.B, r result, ceiling float64) {
		b.ReportMetric(r.rps, "readings/s")
		if ceiling > 0 {
			b.ReportMetric(ceiling, "ceiling-msgs/s")
			b.ReportMetric(r.rps/ceiling, "of-ceiling")
		}
		b.ReportMetric(r.fsyncs, "log-fsyncs/s")
		b.ReportMetric(r.stateFsyncs, "state-fsyncs/s")
		b.ReportMetric(r.bytesPerReading, "log-B/reading")
		b.ReportMetric(r.commitMs, "commit-ms")
		if len(r.lat) > 0 {
			b.ReportMetric(pct(r.lat, 0.5), "p50-ms")
			b.ReportMetric(pct(r.lat, 0.99), "p99-ms")
		}
		b.ReportMetric(r.heapMB, "heap-MB")
		if r.notify != nil {
			c := r.notify.Counts[channel.Webhook]
			b.ReportMetric(float64(c.Sent), "webhook-sent")
			b.ReportMetric(float64(r.notify.Queued), "notify-queued")
		}
	}
	for _, c := range []struct {
		name    string
		every   int
		rules   bool
		webhook string // "": no channels; "2s": alice's webhook answers in 2 s; "down": it refuses connections
	}{{"typical", 100, false, ""}, {"max", 1, false, ""}, {"typical-rules4", 100, true, ""}, {"max-rules4", 1, true, ""},
		{"typical-webhook2s", 100, false, "2s"}, {"max-webhook2s", 1, false, "2s"},
		{"typical-webhookdown", 100, false, "down"}, {"max-webhookdown", 1, false, "down"}} {
		b.Run(c.name, func(b *testing.B) {
			msgs, rules := readingsOf(benchReadings, benchDevices, c.every, benchStart), ""
			if c.rules { // rules on four metrics, and readings that carry them
				msgs, rules = readingsWith(benchReadings, benchDevices, c.every, benchStart, fourMetrics), benchRules(b)
			}
			channels := ""
			if c.webhook != "" {
				channels = benchChannels(b, c.webhook == "down")
			}
			var r result
			var ceiling float64
			for i := 0; i < b.N; i++ {
				ceiling = brokerOnly(b, msgs)
				r = run(b, msgs, 0, rules, channels)
			}
			if c.every == 1 && len(r.lat) < benchReadings*9/10 {
				b.Fatalf("%d alerts timed of %d readings", len(r.lat), benchReadings)
			}
			report(b, r, ceiling)
		})
	}
	b.Run("rate=5000", func(b *testing.B) {
		msgs := readingsOf(25000, benchDevices, 1, benchStart)
		var r result
		for i := 0; i < b.N; i++ {
			r = run(b, msgs, 5000, "", "")
		}
		report(b, r, 0)
	})
}

// benchChannels is a channels file giving alice (every alert of the benchmarks) a webhook on
// loopback that answers in 2 s, or, down, refuses connections.
func benchChannels(b *testing.B, down bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	url := srv.URL
	if down {
		srv.Close()
	} else {
		b.Cleanup(srv.Close)
	}
	path := filepath.Join(b.TempDir(), "channels.csv")
	if err := os.WriteFile(path, []byte("user_id,channel,target,min_severity,secret\nalice,webhook,"+url+"/hook,,whsec_bench_secret_123\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// liveHeapMB is the heap in use after a collection, in MB.
func liveHeapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
