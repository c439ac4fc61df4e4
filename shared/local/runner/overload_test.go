package runner_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// slowPublisher makes the evaluation slow: each batch's publish takes a pause.
type slowPublisher struct {
	evaluator.Publisher
	pause time.Duration
}

func (s slowPublisher) Publish(ctx context.Context, ns []evaluator.Notice) []error {
	time.Sleep(s.pause)
	return s.Publisher.Publish(ctx, ns)
}

// rssBytes is the process's resident memory (Linux).
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestOverloadWaitsOnDiskNotInMemory: the broker takes a burst of 150,000 readings of 1,000
// devices while the evaluation keeps up with a tenth of that: the lag is held in the log, on
// disk, and the process's resident memory stays under 150 MB (it was 207 MB at 163,000 messages
// held in memory). Then a second Ctrl-C stops the drain at once, and the next start evaluates
// what was left: every reading once, nothing lost.
func TestOverloadWaitsOnDiskNotInMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a burst of 150,000 readings")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the resident memory")
	}
	th := benchThresholds(&testing.B{}, benchDevices)
	lakeDir := t.TempDir()
	abort := make(chan struct{})
	var progress syncBuffer
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.Clock = runner.ClockWall
		c.Stream = stream.Config{Shards: 2, BatchSize: 500, BatchWindow: 20 * time.Millisecond}
		c.WrapPublisher = func(pub evaluator.Publisher) evaluator.Publisher { return slowPublisher{pub, 300 * time.Millisecond} }
		c.Abort, c.Progress = abort, &progress
	})
	const n = 150000
	msgs := readingsOf(n, benchDevices, 1, benchStart) // every reading alerts: every batch publishes
	var peakRSS, samples atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
				if r := rssBytes(t); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
				samples.Add(1)
			}
		}
	}()
	began := time.Now()
	res, err := simulate.Publish(context.Background(), &sliceSource{msgs: msgs}, simulate.Options{Broker: p.addr, Inflight: 512})
	require.NoError(t, err)
	burst := float64(res.Acked) / time.Since(began).Seconds()
	close(stopSampling)
	<-sampled

	p.stop() // the first Ctrl-C: drain…
	time.Sleep(1500 * time.Millisecond)
	close(abort) // …and the second: stop now
	<-p.done
	require.NoError(t, p.err)
	first := p.summary
	evalRate := float64(first.Readings) / time.Since(began).Seconds()
	assert.Less(t, first.Readings, n/2, "the evaluation was far behind")
	assert.Contains(t, progress.String(), "draining: ", "the drain says how much is left")
	assert.Contains(t, progress.String(), "messages not evaluated: they are in the log")
	assert.Less(t, peakRSS.Load(), int64(150<<20), "resident memory under the burst: %d MiB", peakRSS.Load()>>20)
	assert.Greater(t, burst, 8*evalRate, "the burst was not ten times what the evaluation keeps up with")

	// The next start takes what the log holds.
	p = start(t, lakeDir, th, func(c *runner.Config) {
		c.Clock = runner.ClockWall
		c.Stream = stream.Config{Shards: 2, BatchSize: 500, BatchWindow: 20 * time.Millisecond}
	})
	second := p.finish(t)
	// What the first left, and the batches it had in hand when it stopped (their states may be
	// saved: read again, they count as duplicates).
	assert.GreaterOrEqual(t, second.Resumed, int64(n-first.Readings), "resumed what the first run left")
	assert.Equal(t, n, first.Readings+second.Readings-second.Duplicates-second.Late, "every reading evaluated once")
	bronze := map[string]bool{}
	for _, l := range readLake(t, lakeDir, "bronze") {
		bronze[l] = true
	}
	assert.Len(t, bronze, n, "bronze holds every reading")
	t.Logf("burst %.0f/s, evaluation %.0f/s; peak RSS %d MiB over %d samples; first run %d readings, second resumed %d (%d duplicates, %d late)",
		burst, evalRate, peakRSS.Load()>>20, samples.Load(), first.Readings, second.Resumed, second.Duplicates, second.Late)
}
