package runner_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/notify"
	"github.com/iotwatch/iotwatch/shared/tools/backtest"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// crashChild is set in the environment of a run started by TestCrashLosesNothingAcknowledged:
// the test binary then runs the pipeline (lake, thresholds, address file) and nothing else.
const crashChild = "IOTWATCH_CRASH_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashChild); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	parts := strings.Split(spec, "|")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	abort := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { // as the CLI: the first signal drains, the second stops at once
		<-sigs
		cancel()
		<-sigs
		close(abort)
	}()
	cfg := runner.Config{Lake: parts[0], Thresholds: parts[1], MQTT: "127.0.0.1:0", Clock: runner.ClockWatermark,
		Stream:          stream.Config{Shards: 2, BatchSize: 200, BatchWindow: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond},
		CheckpointEvery: 100 * time.Millisecond, BronzeEvery: 300 * time.Millisecond, // kills land between checkpoints too
		Abort: abort, Progress: os.Stderr,
		Ready: func(addr string) {
			if err := os.WriteFile(parts[2]+".tmp", []byte(addr), 0o644); err == nil {
				os.Rename(parts[2]+".tmp", parts[2])
			}
		}}
	if len(parts) > 4 && parts[4] == "slow" { // the overload test: an evaluation that keeps up with little
		cfg.Clock, cfg.CheckpointEvery, cfg.BronzeEvery = runner.ClockWall, 0, 0
		cfg.Stream = stream.Config{Shards: 2, BatchSize: 500, BatchWindow: 20 * time.Millisecond}
		cfg.WrapPublisher = func(pub evaluator.Publisher) evaluator.Publisher { return slowPublisher{pub, 300 * time.Millisecond} }
	}
	if len(parts) > 4 && strings.HasPrefix(parts[4], "channels=") { // the channels' kill test
		cfg.Channels = strings.TrimPrefix(parts[4], "channels=")
		cfg.Notify = notify.Config{BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second, Timeout: 30 * time.Second}
	}
	sum, err := runner.Run(ctx, cfg)
	if err := os.WriteFile(parts[3], []byte(fmt.Sprintf("%d %d %d %d %d %d %d", sum.Messages, sum.Resumed, sum.Readings,
		func() int {
			n := 0
			for _, v := range sum.Rejected {
				n += v
			}
			return n
		}(), sum.GivenUp, sum.Duplicates, sum.Late)), 0o644); err != nil {
		return 3
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// childSummary is what runChild writes of its run's summary.
type childSummary struct{ msgs, resumed, readings, rejected, givenUp, dups, late int }

// readSummary reads the summary of the run started as child n.
func readSummary(t *testing.T, lakeDir string, n int) childSummary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lakeDir, "..", fmt.Sprintf("summary-%d", n)))
	require.NoError(t, err)
	var s childSummary
	_, err = fmt.Sscan(string(b), &s.msgs, &s.resumed, &s.readings, &s.rejected, &s.givenUp, &s.dups, &s.late)
	require.NoError(t, err)
	return s
}

// child is a run in its own process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, lakeDir, thresholds string, n int, mode string, stderr io.Writer) *child {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), fmt.Sprintf("addr-%d", n))
	sumFile := filepath.Join(lakeDir, "..", fmt.Sprintf("summary-%d", n))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChild+"="+strings.Join([]string{lakeDir, thresholds, addrFile, sumFile, mode}, "|"))
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil {
			return &child{cmd: cmd, addr: string(b)}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("the run did not start in 30 s")
	return nil
}

// pending publishes the messages not yet acknowledged, in order, as devices do after their
// broker went away (the unacknowledged ones first, then the rest).
type pending struct {
	mu    sync.Mutex
	all   []simulate.Message
	index map[string]int // payload -> position
	acked []bool
	next  int // the next to hand out in this round
	count int // acknowledged, over every round
}

func (p *pending) Next() (simulate.Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.next < len(p.all) && p.acked[p.next] {
		p.next++
	}
	if p.next == len(p.all) {
		return simulate.Message{}, errEOF
	}
	m := p.all[p.next]
	p.next++
	return m, nil
}

var errEOF = fmtEOF

func (p *pending) ack(m simulate.Message, _ time.Time) {
	p.mu.Lock()
	i := p.index[string(m.Payload)]
	defer p.mu.Unlock()
	if !p.acked[i] {
		p.acked[i] = true
		p.count++
	}
}

func (p *pending) acknowledged() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// TestCrashLosesNothingAcknowledged publishes about 30,000 readings to a run in its own process
// and kills it (SIGKILL: no drain, no flush, as a power cut to the process) at 5 moments drawn
// from a seeded generator, restarting it each time, as a device fleet does: what was not
// acknowledged is sent again. Afterwards bronze holds every acknowledged message (a few twice,
// as Firehose may), the alerts equal a backtest of the messages (an alert twice only when the
// kill came between its landing and its state's), and the last run's summary accounts for
// every message it took or resumed.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("starts and kills six processes")
	}
	th, cfgs := thresholdsFile(t)
	lakeDir := filepath.Join(t.TempDir(), "lake")
	data, err := os.ReadFile("../../../events/occupancy/datatest2.txt")
	require.NoError(t, err)
	src, err := simulate.NewDevices(data, "datatest2.txt", 3)
	require.NoError(t, err)
	p := &pending{}
	for {
		m, err := src.Next()
		if err != nil {
			break
		}
		p.all = append(p.all, m)
	}
	p.acked = make([]bool, len(p.all))
	p.index = map[string]int{}
	for i, m := range p.all {
		p.index[string(m.Payload)] = i
	}
	require.Len(t, p.index, len(p.all), "payloads are unique")
	require.Greater(t, len(p.all), 29000)

	rng := rand.New(rand.NewPCG(11, 5))
	const kills = 5
	for round := 0; round <= kills; round++ {
		c := startChild(t, lakeDir, th, round, "", io.Discard)
		p.mu.Lock()
		p.next = 0
		p.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		if round < kills {
			// Kill once this round has had 1,000 to 5,000 more acknowledgements (or at the end).
			target := p.acknowledged() + 1000 + rng.IntN(4000)
			go func() {
				for p.acknowledged() < target && ctx.Err() == nil {
					time.Sleep(200 * time.Microsecond)
				}
				c.cmd.Process.Kill()
				cancel()
			}()
		}
		_, err := simulate.Publish(ctx, p, simulate.Options{Broker: c.addr, Acked: p.ack, Inflight: 512, Timeout: 3 * time.Second,
			Rate: 5000}) // rounds of a second or so: several checkpoints each
		if round < kills {
			cancel()
			_ = c.cmd.Wait() // killed
			t.Logf("round %d: killed with %d of %d acknowledged", round, p.acknowledged(), len(p.all))
			continue
		}
		require.NoError(t, err)
		require.Equal(t, len(p.all), p.acknowledged(), "every message acknowledged in the end")
		require.NoError(t, c.cmd.Process.Signal(os.Interrupt))
		require.NoError(t, c.cmd.Wait(), "the last run stops cleanly")
		cancel()
	}

	// Bronze: every acknowledged message, some twice (acknowledged, then sent again after a
	// kill that came before the PUBACK reached the device, or a bronze buffer written and not
	// checkpointed).
	bronze := map[string]int{}
	for _, l := range append(readLake(t, lakeDir, "bronze"), readLake(t, lakeDir, "errors/bronze")...) {
		bronze[l]++
	}
	lost, twice := 0, 0
	for _, m := range p.all {
		switch n := bronze[string(m.Payload)]; {
		case n == 0:
			lost++
		case n > 1:
			twice += n - 1
		}
	}
	assert.Zero(t, lost, "acknowledged messages missing from bronze")

	// The hourly aggregates count a message bronze holds twice once.
	engine, err := duckdbengine.Open(context.Background(), lakeDir)
	require.NoError(t, err)
	defer engine.Close()
	hourSet := map[time.Time]bool{}
	for _, m := range p.all {
		h, ok := reading.PartitionHour(m.Payload, "event_time")
		require.True(t, ok)
		hourSet[h] = true
	}
	var hours []time.Time
	for h := range hourSet {
		hours = append(hours, h)
	}
	acfg := aggregate.DefaultConfig
	acfg.Concurrency = 1
	_, err = aggregate.NewHandler(engine, acfg, nil, nil).Run(context.Background(), hours)
	require.NoError(t, err)
	rows, err := engine.Query(context.Background(), `SELECT sum(readings) FROM hourly_metrics`)
	require.NoError(t, err)
	var aggregated int64
	require.True(t, rows.Next())
	require.NoError(t, rows.Scan(&aggregated))
	rows.Close()
	assert.Equal(t, int64(len(p.all)), aggregated, "the aggregates count each message once")

	// Alerts: the same as a backtest of the messages in the order they were published (the log
	// keeps that order: what it holds of a round is a prefix of what was sent).
	var want []string
	_, err = backtest.Run(cfgs, &messageSource{msgs: p.all}, backtest.Options{}, func(a alert.Alert) error {
		want = append(want, a.AlertID)
		return nil
	}, func(backtest.Rejected) error { return nil })
	require.NoError(t, err)
	got := alertIDs(t, readLake(t, lakeDir, "alerts"))
	gotSet, repeats := map[string]bool{}, 0
	for _, id := range got {
		if gotSet[id] {
			repeats++
		}
		gotSet[id] = true
	}
	sort.Strings(want)
	uniq := make([]string, 0, len(gotSet))
	for id := range gotSet {
		uniq = append(uniq, id)
	}
	sort.Strings(uniq)
	assert.Equal(t, want, uniq, "the alerts are the backtest's")
	assert.LessOrEqual(t, repeats, kills*10, "alerts repeated outside the window of a kill")

	// The last run's summary: what it acknowledged plus what it resumed from the log is what it
	// evaluated.
	last := readSummary(t, lakeDir, kills)
	assert.Equal(t, last.msgs+last.resumed, last.readings+last.rejected+last.givenUp, "summary %+v", last)
	t.Logf("%d messages, %d kills; bronze %d lines (%d twice); %d alerts (%d repeated); last run: %s",
		len(p.all), kills, len(bronze)+twice, twice, len(got), repeats, fmt.Sprintf("%+v", last))
}
