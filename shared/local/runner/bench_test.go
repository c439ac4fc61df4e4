package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// flipping makes n readings over devices whose temperature crosses the threshold at every reading
// (sustain 0), so that every reading raises an alert: OPEN, RESOLVE, OPEN, …
func flipping(n, devices int, start time.Time) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		d, k := i%devices, i/devices
		temp := 20.0
		if k%2 == 0 {
			temp = 30
		}
		out = append(out, fmt.Appendf(nil, `{"device_id":"dev-%d","event_time":%q,"temperature":%g,"msg_id":"%d"}`,
			d, start.Add(time.Duration(k)*time.Second).Format(time.RFC3339), temp, k))
	}
	return out
}

type sliceSource struct {
	msgs [][]byte
	sent []time.Time
	mu   sync.Mutex
}

func (s *sliceSource) Next() (simulate.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.sent)
	if i == len(s.msgs) {
		return simulate.Message{}, io.EOF
	}
	s.sent = append(s.sent, time.Now())
	var r struct {
		DeviceID string `json:"device_id"`
	}
	json.Unmarshal(s.msgs[i], &r)
	return simulate.Message{Topic: "devices/" + r.DeviceID + "/readings", Payload: s.msgs[i]}, nil
}

// alertTimes records when each alert line is printed, by its device and alert time.
type alertTimes struct {
	mu  sync.Mutex
	at  map[string]time.Time
	buf bytes.Buffer
}

func (a *alertTimes) Write(p []byte) (int, error) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Write(p)
	sc := bufio.NewScanner(&a.buf)
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // ALERT time kind severity rule device user=… …
		if len(f) > 5 {
			a.at[f[5]+" "+f[1]] = now
		}
	}
	a.buf.Reset()
	return len(p), nil
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

// BenchmarkLocalPipeline: readings from MQTT publish to bronze and alert on this machine.
// max: 100,000 readings of 100 devices as fast as one publisher goes, until drained; every
// reading raises an alert. rate=5000: 25,000 readings at 5,000/s; latency from publish to the
// alert being printed, p50 and p99.
func BenchmarkLocalPipeline(b *testing.B) {
	const devices = 100
	run := func(b *testing.B, n int, rate float64) (readingsPerSec float64, lat []time.Duration) {
		lakeDir := b.TempDir()
		at := &alertTimes{at: map[string]time.Time{}}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan runner.Summary, 1)
		go func() {
			sum, err := runner.Run(ctx, runner.Config{Lake: lakeDir, Thresholds: benchThresholds(b, devices), MQTT: "127.0.0.1:0",
				Stream: stream.Config{Shards: 2, BatchSize: 500, BatchWindow: 20 * time.Millisecond},
				Alerts: at, Ready: func(a string) { ready <- a }})
			if err != nil {
				b.Error(err)
			}
			done <- sum
		}()
		addr := <-ready
		src := &sliceSource{msgs: flipping(n, devices, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}
		start := time.Now()
		if _, err := simulate.Publish(context.Background(), src, simulate.Options{Broker: addr, Rate: rate, Inflight: 512}); err != nil {
			b.Fatal(err)
		}
		cancel()
		sum := <-done
		elapsed := time.Since(start)
		if sum.Readings != n || sum.Bronze != int64(n) {
			b.Fatalf("%d readings evaluated, %d in bronze; want %d", sum.Readings, sum.Bronze, n)
		}
		for i, m := range src.msgs {
			var r struct {
				DeviceID  string `json:"device_id"`
				EventTime string `json:"event_time"`
			}
			json.Unmarshal(m, &r)
			if t, ok := at.at[r.DeviceID+" "+r.EventTime]; ok {
				lat = append(lat, t.Sub(src.sent[i]))
			}
		}
		if len(lat) < n*9/10 {
			b.Fatalf("%d alerts timed of %d readings", len(lat), n)
		}
		return float64(n) / elapsed.Seconds(), lat
	}
	pct := func(lat []time.Duration, q float64) float64 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.Run("max", func(b *testing.B) {
		var rps float64
		var lat []time.Duration
		for i := 0; i < b.N; i++ {
			rps, lat = run(b, 100000, 0)
		}
		b.ReportMetric(rps, "readings/s")
		b.ReportMetric(pct(lat, 0.5), "p50-ms")
		b.ReportMetric(pct(lat, 0.99), "p99-ms")
	})
	b.Run("rate=5000", func(b *testing.B) {
		var rps float64
		var lat []time.Duration
		for i := 0; i < b.N; i++ {
			rps, lat = run(b, 25000, 5000)
		}
		b.ReportMetric(rps, "readings/s")
		b.ReportMetric(pct(lat, 0.5), "p50-ms")
		b.ReportMetric(pct(lat, 0.99), "p99-ms")
	})
}
