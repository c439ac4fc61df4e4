package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/wal"
)

// BenchmarkRestartWith1GBLog: a run starts on a lake whose log holds 1 GiB that the evaluation
// and bronze have not read (a crash during a long overload): the time until the broker takes
// messages again, and until the first batch of the backlog is evaluated.
func BenchmarkRestartWith1GBLog(b *testing.B) {
	lakeDir := b.TempDir()
	l, err := wal.Open(filepath.Join(lakeDir, LogDir), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pad := make([]byte, 900)
	for i := range pad {
		pad[i] = 'x'
	}
	var wg sync.WaitGroup
	n := 0
	for written := 0; written < 1<<30; n++ {
		rec := encodeRecord("dev-1", time.Now(), fmt.Appendf(nil, `{"device_id":"dev-1","event_time":"2026-03-01T00:00:00Z","msg_id":"%d","temperature":21,"pad":"%s"}`, n, pad))
		written += len(rec) + 8
		wg.Add(1)
		l.AppendAsync(rec, func(uint64, error) { wg.Done() })
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	th := filepath.Join(b.TempDir(), "t.csv")
	if err := os.WriteFile(th, []byte("user_id,device_id,temp_warning\nalice,dev-1,25\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var ready, firstBatch time.Duration
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		readyAt := make(chan time.Time, 1)
		abort := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = Run(ctx, Config{Lake: lakeDir, Thresholds: th, MQTT: "127.0.0.1:0", Abort: abort,
				Ready: func(string) { readyAt <- time.Now() }})
		}()
		ready = (<-readyAt).Sub(start)
		// The first batch: the evaluation's checkpoint moves past the start of the backlog.
		for {
			cp, err := os.ReadFile(filepath.Join(lakeDir, LogDir, "checkpoint."+consumerEvaluate))
			if err == nil && len(cp) > 0 && string(cp) != "1\n" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		firstBatch = time.Since(start)
		cancel()
		close(abort)
		<-done
		// Back to an unread backlog for the next round.
		os.Remove(filepath.Join(lakeDir, LogDir, "checkpoint."+consumerEvaluate))
		os.Remove(filepath.Join(lakeDir, LogDir, "checkpoint."+consumerBronze))
	}
	b.ReportMetric(float64(ready.Milliseconds()), "ms-to-accepting")
	b.ReportMetric(float64(firstBatch.Milliseconds()), "ms-to-first-checkpoint")
	b.ReportMetric(float64(n), "records-in-log")
}

// TestAggregationProgress: a line at the first hour, then a second at most, and one at the last, with the rate and
// the time left.
func TestAggregationProgress(t *testing.T) {
	var b strings.Builder
	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	progress := aggregationProgress(&b, now)
	for done := 1; done <= 10; done++ {
		at = at.Add(300 * time.Millisecond)
		progress(done, 10)
	}
	want := "01:00:00  aggregating: 1 of 10 hours, 3.3 hours/s, about 3s left\n" +
		"01:00:01  aggregating: 5 of 10 hours, 3.3 hours/s, about 2s left\n" +
		"01:00:02  aggregating: 9 of 10 hours, 3.3 hours/s, about 0s left\n" +
		"01:00:03  aggregating: 10 of 10 hours, 3.3 hours/s, about 0s left\n"
	if b.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", b.String(), want)
	}
}
