package runner_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/lakelock"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// settled waits until the number of goroutines is back to at most n (they end asynchronously).
func settled(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// TestFailedStartLeavesNothingRunning: when the broker cannot listen, Run returns the error and
// the stream it had started is stopped (before, its consumers leaked).
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	th, _ := thresholdsFile(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	before := runtime.NumGoroutine()
	_, err = runner.Run(context.Background(), runner.Config{Lake: t.TempDir(), Thresholds: th, MQTT: busy.Addr().String()})
	require.ErrorContains(t, err, "listening for MQTT")
	assert.LessOrEqual(t, settled(before), before, "goroutines left running after a failed start")
}

// failingAggregator fails every hour.
type failingAggregator struct{}

func (failingAggregator) AggregateHour(_ context.Context, h aggregate.Hour) (aggregate.HourResult, error) {
	return aggregate.HourResult{Hour: h.Start}, errors.New("disk full")
}

// TestFailedFinalAggregationIsAnError: a run whose last aggregation failed did not finish its
// work, and says so (the CLI exits non-zero).
func TestFailedFinalAggregationIsAnError(t *testing.T) {
	th := filepath.Join(t.TempDir(), "t.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\nalice,room-1,24,,,,,0\n"), 0o644))
	p := start(t, t.TempDir(), th, func(c *runner.Config) { c.Aggregator = failingAggregator{} })
	_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21}`)),
		simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	p.stop()
	<-p.done
	require.Error(t, p.err)
	assert.Contains(t, p.err.Error(), "disk full")
}

// TestSecondRunOnOneLakeIsRefused: two runs on one lake once overwrote each other's alarm state
// (an open episode never resolved). The second is refused, saying why, and the first goes on.
func TestSecondRunOnOneLakeIsRefused(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th)
	_, err := runner.Run(context.Background(), runner.Config{Lake: lakeDir, Thresholds: th, MQTT: "127.0.0.1:0"})
	require.ErrorIs(t, err, lakelock.ErrInUse)
	assert.Contains(t, err.Error(), "another --lake")
	p.finish(t)
	// once the first has stopped, the lake is free again
	p = start(t, lakeDir, th)
	p.finish(t)
}

// TestQuarantineKeepsEveryRunsRecords: quarantine objects are named after the stream's sequence
// numbers, which once restarted at 1 with the process, so a restart overwrote the earlier
// rejects of the same hour. Both runs' records stay.
func TestQuarantineKeepsEveryRunsRecords(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	for i := range 2 {
		p := start(t, lakeDir, th)
		_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(fmt.Sprintf(`{"device_id":"room-1","not json %d`, i))),
			simulate.Options{Broker: p.addr})
		require.NoError(t, err)
		p.finish(t)
	}
	assert.Len(t, readLake(t, lakeDir, "quarantine"), 2)
}

// failingCalls refuses every alert of its first n calls.
type failingCalls struct {
	next evaluator.Publisher
	mu   sync.Mutex
	n    int
}

func (f *failingCalls) Publish(ctx context.Context, ns []evaluator.Notice) []error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
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

// TestSummaryCountsEachMessageOnce: while writes failed, retried batches were counted again
// (readings 641 for 200 messages). Each message counts once, whatever the retries.
func TestSummaryCountsEachMessageOnce(t *testing.T) {
	th := filepath.Join(t.TempDir(), "t.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\nalice,room-1,24,,,,,0\nalice,room-2,24,,,,,0\n"), 0o644))
	p := start(t, t.TempDir(), th, func(c *runner.Config) {
		c.WrapPublisher = func(next evaluator.Publisher) evaluator.Publisher { return &failingCalls{next: next, n: 3} }
	})
	var lines []string
	for i := range 200 {
		temp := 20.0
		if i%2 == 0 {
			temp = 30 // every other reading opens or resolves an episode: every batch publishes
		}
		lines = append(lines, fmt.Sprintf(`{"device_id":"room-%d","event_time":"2026-03-01T08:%02d:%02dZ","temperature":%g}`, 1+i%2, i/60, i%60, temp))
	}
	lines = append(lines, `{"device_id":"room-1"`, `{"device_id":"room-2","event_time":"1999-01-01T00:00:00Z","temperature":1}`)
	_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(strings.Join(lines, "\n"))), simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	sum := p.finish(t)
	assert.GreaterOrEqual(t, sum.Retries, int64(1), "the faults were not exercised: %s", sum)
	assert.Equal(t, int64(202), sum.Messages)
	assert.Equal(t, 200, sum.Readings, "%s", sum)
	assert.Equal(t, 0, sum.Late+sum.Duplicates, "%s", sum)
	assert.Equal(t, 2, reading.Counts(sum.Rejected).Total(), "%s", sum)
}

// TestARefusedStartUndoesWhatItMade: a start refused once the lake is locked (here, the MQTT
// address taken) removes what it made: a new lake whole, and in an existing lake state/ and log/
// (the lock file stays); a setting out of range is refused before the lake is made at all.
func TestARefusedStartUndoesWhatItMade(t *testing.T) {
	th, _ := thresholdsFile(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	newLake := filepath.Join(t.TempDir(), "lake")
	_, err = runner.Run(context.Background(), runner.Config{Lake: newLake, Thresholds: th, MQTT: busy.Addr().String()})
	require.ErrorContains(t, err, "listening for MQTT")
	assert.NoDirExists(t, newLake)

	existing := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(existing, "kept.txt"), []byte("mine"), 0o644))
	_, err = runner.Run(context.Background(), runner.Config{Lake: existing, Thresholds: th, MQTT: busy.Addr().String()})
	require.ErrorContains(t, err, "listening for MQTT")
	entries, err := os.ReadDir(existing)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{lakelock.FileName, "kept.txt"}, names)

	_, err = runner.Run(context.Background(), runner.Config{Lake: newLake, Thresholds: th, Stream: stream.Config{Shards: 1000}})
	require.ErrorIs(t, err, runner.ErrOutOfRange)
	assert.NoDirExists(t, newLake)
}
