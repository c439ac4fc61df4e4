// Package runner is the whole pipeline in one process (DESIGN.md, "The same on one machine"):
// an embedded MQTT broker, the topic rule feeding an in-process stream, the evaluate function's
// handler on local stand-ins, a Firehose-like writer of the lake, and the hourly aggregation.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/lakefiles"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/contract/topic"
)

// Config configures a run.
type Config struct {
	Lake       string // lake directory: bronze/, alerts/, quarantine/, errors/, gold/, state/
	Thresholds string // thresholds CSV (re-read when it changes)
	Devices    string // optional devices CSV (names and locations in alert texts)
	MQTT       string // listen address, default 127.0.0.1:1883
	Stream     stream.Config
	// Aggregator, when set, aggregates the hours that received readings every AggregateEvery
	// (and once more when the run stops).
	Aggregator     aggregate.HourAggregator
	AggregateEvery time.Duration
	Interval       time.Duration // devices' nominal interval, for expected_readings; default 60 s
	Alerts         io.Writer     // readable alert lines (nil: none)
	Progress       io.Writer     // progress lines while busy (nil: none)
	Log            *slog.Logger
	// Ready is called with the broker's address once it accepts connections.
	Ready func(addr string)
}

// Summary is what a run did.
type Summary struct {
	Messages   int64 // accepted by the broker on the readings topics
	Readings   int
	Rejected   map[reading.Reason]int
	Late       int
	Duplicates int
	Alerts     map[string]int // "KIND SEVERITY"
	Bronze     int64          // records written to bronze
	GivenUp    int            // records the stream gave up on (errors/failed-batches)
	Hours      []string       // hours aggregated
}

// ruleHook is the topic rule: every message on devices/+/readings goes, unchanged, onto the
// stream keyed by the topic's device id, and to the bronze writer (Firehose reads the stream).
// It runs before the broker acknowledges the message, so an acknowledged message is in both.
type ruleHook struct {
	mqtt.HookBase
	stream *stream.Stream
	bronze *lakefiles.Writer
	mu     sync.Mutex
	count  int64
}

func (h *ruleHook) ID() string { return "iotwatch-rule" }

func (h *ruleHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *ruleHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	dev, ok := topic.DeviceOf(pk.TopicName)
	if !ok {
		return pk, nil // not the rule's topic: the broker delivers it, the pipeline ignores it
	}
	data := append([]byte(nil), pk.Payload...)
	if err := h.stream.Put(stream.Record{Data: data, PartitionKey: dev, Arrival: time.Now()}); err != nil {
		return pk, packets.ErrServerUnavailable // shutting down: not acknowledged, the client retries
	}
	if err := h.bronze.Add(data); err != nil {
		return pk, packets.ErrImplementationSpecificError
	}
	h.mu.Lock()
	h.count++
	h.mu.Unlock()
	return pk, nil
}

func (h *ruleHook) messages() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Run serves until ctx is done, then stops accepting, drains the stream, flushes every buffer,
// aggregates what it touched, and returns the summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	sum := Summary{Rejected: map[reading.Reason]int{}, Alerts: map[string]int{}}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MQTT == "" {
		cfg.MQTT = "127.0.0.1:1883"
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	store, err := filestore.Open(cfg.Thresholds, cfg.Devices, filepath.Join(cfg.Lake, "state"), cfg.Log)
	if err != nil {
		return sum, err
	}
	bronze := lakefiles.NewWriter(cfg.Lake, lake.Bronze, "event_time")
	alerts := lakefiles.NewWriter(cfg.Lake, lake.Alerts, "alert_time")
	failed := lakefiles.NewWriter(cfg.Lake, lake.Errors+"/failed-batches", "event_time")

	var mu sync.Mutex
	observe := func(s evaluator.Stats) {
		mu.Lock()
		defer mu.Unlock()
		sum.Readings += s.Readings
		sum.Late += s.Late
		sum.Duplicates += s.Duplicates
		for r, n := range s.Rejected {
			sum.Rejected[r] += n
		}
		for k, n := range s.Alerts {
			sum.Alerts[k] += n
		}
	}
	hcfg := evaluator.DefaultConfig
	hcfg.CacheTTL = 2 * time.Second // the thresholds file is re-read at most this late
	handler := evaluator.New(store, lakefiles.NewPublisher(cfg.Alerts, alerts), lakefiles.NewQuarantine(cfg.Lake), hcfg, cfg.Log, observe)
	stream := stream.New(cfg.Stream, handler.Handle, func(f stream.Failure) {
		cfg.Log.Error("records given up after retries", "shard", f.Shard, "records", len(f.Records), "err", f.Err)
		mu.Lock()
		sum.GivenUp += len(f.Records)
		mu.Unlock()
		for _, r := range f.Records {
			failed.Add(r.Kinesis.Data)
		}
	})
	runCtx, stopStream := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStream()
	stream.Start(runCtx)

	ln, err := net.Listen("tcp", cfg.MQTT)
	if err != nil {
		return sum, fmt.Errorf("listening for MQTT on %s: %w", cfg.MQTT, err)
	}
	server := mqtt.New(&mqtt.Options{InlineClient: false, Logger: cfg.Log})
	hook := &ruleHook{stream: stream, bronze: bronze}
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return sum, err
	}
	if err := server.AddHook(hook, nil); err != nil {
		return sum, err
	}
	if err := server.AddListener(listeners.NewNet("mqtt", ln)); err != nil {
		return sum, err
	}
	if err := server.Serve(); err != nil {
		return sum, err
	}
	cfg.Log.Info("MQTT broker listening", "addr", ln.Addr().String())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	aggregateTouched := func(ctx context.Context) {
		if cfg.Aggregator == nil {
			return
		}
		if err := bronze.Flush(); err != nil {
			cfg.Log.Error("flushing bronze", "err", err)
		}
		if err := alerts.Flush(); err != nil {
			cfg.Log.Error("flushing alerts", "err", err)
		}
		hours := bronze.Touched()
		if len(hours) == 0 {
			return
		}
		acfg := aggregate.DefaultConfig
		acfg.Interval, acfg.Concurrency = cfg.Interval, 1
		res, err := aggregate.NewHandler(cfg.Aggregator, acfg, cfg.Log, nil).Run(ctx, hours)
		if err != nil {
			cfg.Log.Error("aggregation", "err", err)
		}
		mu.Lock()
		sum.Hours = append(sum.Hours, res.Hours...)
		mu.Unlock()
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var aggTick <-chan time.Time
	if cfg.Aggregator != nil && cfg.AggregateEvery > 0 {
		t := time.NewTicker(cfg.AggregateEvery)
		defer t.Stop()
		aggTick = t.C
	}
	lastMsgs, lastTime := int64(0), time.Now()
	var errs []error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-aggTick:
			aggregateTouched(ctx)
		case now := <-tick.C:
			store.Reload()
			if err := bronze.FlushOld(); err != nil {
				errs = append(errs, err)
			}
			if err := alerts.FlushOld(); err != nil {
				errs = append(errs, err)
			}
			msgs := hook.messages()
			if cfg.Progress != nil && (msgs != lastMsgs || stream.Lag() > 0) {
				mu.Lock()
				fmt.Fprintf(cfg.Progress, "%s  %8.0f readings/s  %d messages  %d alerts  lag %d\n", now.Format("15:04:05"),
					float64(msgs-lastMsgs)/now.Sub(lastTime).Seconds(), msgs, total(sum.Alerts), stream.Lag())
				mu.Unlock()
			}
			lastMsgs, lastTime = msgs, now
		}
	}

	// Stop accepting, drain, flush: every acknowledged message ends up in the lake.
	cfg.Log.Info("stopping: draining the stream and flushing the lake")
	if err := server.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the broker: %w", err))
	}
	stream.Close()
	for _, w := range []*lakefiles.Writer{bronze, alerts, failed} {
		if err := w.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Aggregator != nil {
		aggregateTouched(context.WithoutCancel(ctx))
	}
	sum.Messages = hook.messages()
	sum.Bronze = bronze.Written()
	return sum, errors.Join(errs...)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// String renders the summary for people.
func (s Summary) String() string {
	var b strings.Builder
	rejected := reading.Counts(s.Rejected)
	fmt.Fprintf(&b, "messages %d, readings %d, rejected %d", s.Messages, s.Readings, rejected.Total())
	if rejected.Total() > 0 {
		fmt.Fprintf(&b, " (%s)", rejected)
	}
	fmt.Fprintf(&b, ", late %d, duplicates %d\n", s.Late, s.Duplicates)
	var kinds []string
	for k, n := range s.Alerts {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "alerts %d: %s\n", total(s.Alerts), strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "bronze %d records; given up %d; hours aggregated %d\n", s.Bronze, s.GivenUp, len(s.Hours))
	return b.String()
}
