// Package runner is the whole pipeline in one process (DESIGN.md, "The same on one machine"):
// the embedded MQTT broker with the topic rule, which appends each message to a durable log
// (package wal) before acknowledging it; the log's two consumers, an in-process stream (Kinesis
// and its event source mapping) that hands batches to the evaluation service on local stand-ins
// (file store, lake files) and a Firehose-like writer of bronze, each resuming from its
// checkpoint after a restart or a crash; and the hourly aggregation.
package runner

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/local/lakefiles"
	"github.com/iotwatch/iotwatch/shared/local/lakelock"
	"github.com/iotwatch/iotwatch/shared/local/outbox"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/local/wal"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// Config configures a run.
type Config struct {
	Lake       string // lake directory: bronze/, alerts/, quarantine/, errors/, gold/, state/
	Thresholds string // thresholds CSV (re-read when it changes)
	Rules      string // the long rules file (re-read when it changes); "": none
	Metrics    string // the metrics catalog (re-read when it changes); "": the built-ins only
	Devices    string // optional devices CSV (names and locations in alert texts)
	Users      string // optional users CSV (time zones, quiet hours; re-read when it changes)
	MQTT       string // listen address, default broker.DefaultAddr
	Stream     stream.Config
	// Aggregator, when set, aggregates the hours that received readings every AggregateEvery
	// (and once more when the run stops).
	Aggregator     aggregate.HourAggregator
	AggregateEvery time.Duration
	Interval       time.Duration // devices' nominal interval, for expected_readings; default aggregate.DefaultConfig.Interval
	Alerts         io.Writer     // readable alert lines (nil: none)
	Progress       io.Writer     // progress lines while busy (nil: none)
	Log            *slog.Logger
	// Ready is called with the broker's address once it accepts connections.
	Ready func(addr string)
	// WrapPublisher, when set, wraps the publisher of alerts (tests inject faults with it).
	WrapPublisher func(evaluator.Publisher) evaluator.Publisher
	// Clock is the silence rule's clock: ClockWall (default) or ClockWatermark, the latest event
	// time applied, for replays of old data.
	Clock string
	// HTTP, when set, serves the alerts' one-click links (acknowledge, snooze) on this address;
	// LinkBase is the URL people reach it at (default http://HTTP).
	HTTP, LinkBase string
	// PagesOnNetwork serves the dashboard's pages (read-only: no buttons) on an HTTP address
	// other than loopback too. They have no login: whoever reaches the address sees the devices,
	// the users, their thresholds and episodes, and the quarantine's samples.
	PagesOnNetwork bool
	// LinksReady is called with the links server's address once it listens.
	LinksReady func(addr string)
	// MaxLogBytes caps the log on disk (0: the disk is the cap); at the cap the broker stops
	// acknowledging until the consumers catch up.
	MaxLogBytes int64
	// RepairLog opens a damaged log (wal.Options.Repair), loudly, instead of refusing to start.
	RepairLog bool
	// TLS is the broker's TLS (client certificates required): needed to listen on anything but
	// loopback. HTTPTLS is the HTTP listener's, needed likewise.
	TLS, HTTPTLS *tls.Config
	// Revoked, with TLS, is the deny list of device certificates (pki.DenyList): the broker
	// refuses them at connection, and the run reads the list again every Tick, disconnecting
	// the devices it now names (no restart needed).
	Revoked DenyList
	// CheckpointEvery is how often the evaluation's checkpoint is written (default Tick), and
	// BronzeEvery how often bronze's buffers are written and its checkpoint moves (default
	// lakefiles.DefaultMaxAge): after a crash, at most that much is read again.
	CheckpointEvery, BronzeEvery time.Duration
	// Abort, closed while the run drains after ctx is done, stops the drain at once: what is not
	// done stays in the log for the next start.
	Abort <-chan struct{}
	// Channels, when set, is the channels CSV (re-read when it changes): the alerts go to
	// people's Slack, Teams, webhooks and PagerDuty through a queue on disk (DIR/notify/outbox,
	// package outbox), delivered in the background; dead letters in DIR/notify-failed/.
	Channels string
	// Notify configures the senders (PagerDutyURL, timeouts, tries, backoff); DeadLetter and
	// DeviceURL are the run's.
	Notify notify.Config
	// NotifyDrain bounds how long a stop waits for the deliveries (default DefaultNotifyDrain);
	// what is left is delivered after the next start.
	NotifyDrain time.Duration
}

// DenyList is the broker's deny list, which the run reads again when it changes.
type DenyList interface {
	broker.DenyList
	Reload() (changed bool, err error)
}

// DefaultNotifyDrain is how long a stop waits for the channels' deliveries by default.
const DefaultNotifyDrain = 10 * time.Second

// The clocks of the silence rule.
const (
	ClockWall      = "wall"
	ClockWatermark = "watermark"
)

// The run's fixed rhythms.
const (
	// CacheTTL is how long the service reuses thresholds: an edit of the thresholds file takes
	// effect at most this late.
	CacheTTL = 2 * time.Second
	// Tick is how often the run checks the thresholds file, writes lake buffers older than
	// lakefiles.DefaultMaxAge and prints progress.
	Tick = time.Second
)

// Summary is what a run did.
type Summary struct {
	Messages   int64 // accepted by the broker on the readings topics
	Resumed    int64 // read from the log that earlier runs acknowledged and did not evaluate
	Readings   int
	Rejected   map[reading.Reason]int
	Late       int
	Duplicates int
	Alerts     map[evaluator.AlertKey]int
	Bronze     int64    // records written to bronze
	Unframed   int64    // messages bronze left out: not one line (the evaluation quarantined them)
	Batches    int64    // batches the stream handed to the service
	Retries    int64    // of which retries
	GivenUp    int      // records the stream gave up on (errors/failed-batches)
	Hours      []string // hours aggregated
	// Log and StateLog are the counters of the message log and of the alarm states' journal
	// (appends, bytes, fsyncs).
	Log, StateLog wal.Stats
	// Notify counts the deliveries to channels, per kind, and those left queued (nil Counts:
	// no channels file).
	Notify outbox.Stats
}

// bronzeWriter is the lake's bronze: one message a line, as on AWS.
func bronzeWriter(root string) *lakefiles.Writer {
	w := lakefiles.NewWriter(root, lake.Bronze, "event_time")
	w.OneLine = true
	return w
}

// pipeline is a run's parts.
type pipeline struct {
	cfg     Config
	store   *filestore.Store
	users   *filestore.Users // nil without a users file
	bronze  *lakefiles.Writer
	alerts  *lakefiles.Writer
	failed  *lakefiles.Writer
	service *evaluator.Service
	stream  *stream.Stream
	broker  *broker.Broker
	links   *linkServer    // nil without cfg.HTTP
	outbox  *outbox.Outbox // nil without cfg.Channels
	// deviceBase is the URL of the dashboard's device pages, for links in channels' messages
	// ("" when the dashboard is not served).
	deviceBase string
	log        *wal.Log
	tracker    *tracker
	feeders    sync.WaitGroup
	// bronzeNext is the offset after the last record the bronze writer took; bronzeFlushed when
	// its buffers were last written.
	bronzeNext    atomic.Uint64
	bronzeFlushed time.Time
	aborted       bool
	stopping      atomic.Bool
	stalled       atomic.Bool                 // given-up records cannot be written: the shard waits
	unreadable    atomic.Pointer[readerFault] // the first reader of the log that could not go on
	readErrors    map[string]*atomic.Int64    // per consumer
	started       time.Time
	rateBits      atomic.Uint64 // messages acknowledged per second over the last Tick (float64 bits)
	denyErr       string        // the deny list's last read error, said once (serve's goroutine only)

	giving sync.Mutex // one batch given up is written at a time
	mu     sync.Mutex // guards sum and errs
	sum    Summary
	errs   []error
	// counted holds, per shard, the sequence numbers of a retried batch's messages already
	// counted: the stream delivers them again, and the summary counts each message once.
	counted []map[string]bool
}

// Run serves until ctx is done, then stops accepting, drains the stream, flushes every buffer,
// aggregates what it touched, and returns the summary. Its error says what could not be done:
// a write that failed, records given up, an aggregation that failed.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.Check(); err != nil {
		return Summary{}, err
	}
	made := absent(cfg.Lake)
	lock, err := lakelock.Acquire(cfg.Lake)
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = lock.Release() }() // the kernel releases it anyway when the process ends
	made.inside("state", LogDir)
	started := false
	defer func() { // under the lock, after what the start opened is closed: a refused start leaves the lake as it was
		if !started {
			made.undo()
		}
	}()
	p, err := newPipeline(cfg)
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = p.store.Close() }()
	defer p.stopLinks() // and its listener, on every path (before the store it uses)
	// The stream and the log's readers outlive ctx: after ctx is done, stop drains them.
	streamCtx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStream()
	p.stream.Start(streamCtx)
	p.feeders.Add(2)
	go func() { defer p.feeders.Done(); p.feedEvaluation(streamCtx) }()
	go func() { defer p.feeders.Done(); p.feedBronze(streamCtx) }()
	if p.broker, err = broker.Start(broker.Options{Addr: p.cfg.MQTT, TLS: p.cfg.TLS, Revoked: p.cfg.Revoked, Log: p.cfg.Log}, p.rule); err != nil {
		_ = p.log.Close()
		cancelStream()
		p.feeders.Wait()
		p.stream.Close()
		return p.summary(), err
	}
	started = true
	p.cfg.Log.Info("MQTT broker listening", "addr", p.broker.Addr())
	if p.links != nil {
		p.startLinks()
		if p.cfg.LinksReady != nil {
			p.cfg.LinksReady(p.links.ln.Addr().String())
		}
	}
	if p.outbox != nil {
		p.outbox.Start()
	}
	if p.cfg.Ready != nil {
		p.cfg.Ready(p.broker.Addr())
	}
	p.serve(ctx)
	p.stop(context.WithoutCancel(ctx), cancelStream)
	return p.summary(), p.err()
}

func newPipeline(cfg Config) (*pipeline, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MQTT == "" {
		cfg.MQTT = broker.DefaultAddr
	}
	if cfg.Interval == 0 {
		cfg.Interval = aggregate.DefaultConfig.Interval
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = Tick
	}
	if cfg.Clock == "" {
		cfg.Clock = ClockWall
	}
	store, err := filestore.Open(cfg.Thresholds, cfg.Devices, filepath.Join(cfg.Lake, "state"), cfg.Log, filestore.Repair(cfg.RepairLog))
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != "" { // first: the rules may name its metrics
		if err := store.UseMetrics(cfg.Metrics); err != nil {
			_ = store.Close()
			return nil, err
		}
	}
	if cfg.Rules != "" {
		if err := store.UseRules(cfg.Rules); err != nil {
			_ = store.Close()
			return nil, err
		}
	}
	log, err := wal.Open(filepath.Join(cfg.Lake, LogDir), wal.Options{MaxBytes: cfg.MaxLogBytes,
		Consumers: []string{consumerEvaluate, consumerBronze}, Log: cfg.Log, Repair: cfg.RepairLog})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	started := false
	defer func() { // what a failed start opened, closed
		if !started {
			_ = log.Close()
			_ = store.Close()
		}
	}()
	p := &pipeline{
		cfg:        cfg,
		store:      store,
		log:        log,
		tracker:    newTracker(log.Checkpointed(consumerEvaluate)),
		readErrors: map[string]*atomic.Int64{consumerEvaluate: new(atomic.Int64), consumerBronze: new(atomic.Int64)},
		started:    time.Now(),
		bronze:     bronzeWriter(cfg.Lake),
		alerts:     lakefiles.NewWriter(cfg.Lake, lake.Alerts, "alert_time"),
		failed:     lakefiles.NewWriter(cfg.Lake, lake.Errors+"/failed-batches", "event_time"),
		sum:        Summary{Rejected: map[reading.Reason]int{}, Alerts: map[evaluator.AlertKey]int{}},
	}
	if cfg.BronzeEvery > 0 {
		p.bronze.MaxAge = cfg.BronzeEvery
	}
	var pub evaluator.Publisher = lakefiles.NewPublisher(cfg.Alerts, p.alerts)
	if cfg.Channels != "" {
		ncfg := cfg.Notify
		ncfg.DeviceURL = func(id string) string {
			if p.deviceBase == "" { // set before the deliveries start
				return ""
			}
			return p.deviceBase + url.PathEscape(id)
		}
		units := func(ctx context.Context) alert.Units {
			if c, err := store.Catalog(ctx); err == nil && c != nil {
				return c
			}
			return nil
		}
		if p.outbox, err = outbox.Open(outbox.Config{Lake: cfg.Lake, Channels: cfg.Channels, Notify: ncfg, Units: units, Log: cfg.Log}); err != nil {
			return nil, err
		}
		pub = p.outbox.Wrap(pub) // after the landing: only landed alerts are delivered
	}
	if cfg.WrapPublisher != nil {
		pub = cfg.WrapPublisher(pub)
	}
	scfg := evaluator.DefaultConfig
	scfg.CacheTTL = CacheTTL
	if cfg.Users != "" {
		if p.users, err = filestore.OpenUsers(cfg.Users, cfg.Log); err != nil {
			return nil, err
		}
		scfg.Users = p.users
		scfg.Held = store // the digests at the end of quiet hours
	}
	scfg.Verdicts = true // the summary counts each message once, however often it is retried
	if cfg.HTTP != "" {
		secret, err := linkSecret(cfg.Lake)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return nil, fmt.Errorf("listening for links on %s: %w", cfg.HTTP, err)
		}
		if cfg.HTTPTLS != nil {
			ln = tls.NewListener(ln, cfg.HTTPTLS)
		}
		p.links = &linkServer{ln: ln}
		base := cfg.LinkBase
		if base == "" {
			if host, _, _ := net.SplitHostPort(ln.Addr().String()); net.ParseIP(host).IsUnspecified() {
				_ = ln.Close()
				return nil, fmt.Errorf("--http %s listens on every address: give --link-base, the URL people reach it at", cfg.HTTP)
			}
			base = "http://" + ln.Addr().String()
			if cfg.HTTPTLS != nil {
				base = "https://" + ln.Addr().String()
			}
		}
		signer, err := links.NewSigner(secret, base)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		scfg.Linker = signer
		mux := http.NewServeMux()
		loopback := broker.Loopback(ln.Addr().String())
		mux.Handle("/healthz", ownHost(loopback, http.HandlerFunc(p.healthz)))
		mux.Handle("/metrics", ownHost(loopback, http.HandlerFunc(p.metrics)))
		linkPages := links.NewHandler(signer, store, links.Published{Publisher: pub}, time.Now, cfg.Log)
		mux.Handle("/"+string(links.Ack)+"/", linkPages)
		mux.Handle("/"+string(links.Snooze)+"/", linkPages)
		api := links.NewAPI(store, store, links.Published{Publisher: pub}, time.Now)
		if loopback {
			// `iotwatch alerts … --server`: no authentication, so only where only this machine reaches.
			mux.Handle("/api/", api)
		} else {
			cfg.Log.Warn("the control API (iotwatch alerts --server) and the dashboard's buttons are served on loopback addresses only", "http", cfg.HTTP)
		}
		if loopback || cfg.PagesOnNetwork {
			dash, err := p.dashboard(cfg, api, loopback)
			if err != nil {
				_ = ln.Close()
				return nil, err
			}
			p.links.dash = dash
			p.deviceBase = strings.TrimSuffix(base, "/") + "/device/"
			mux.Handle("/", dash) // the pages people look at (shared/local/dashboard)
		} else {
			mux.Handle("/", linkPages) // "not a link" for anything else
			cfg.Log.Warn("the dashboard's pages are served on loopback addresses only, unless --pages-on-network", "http", cfg.HTTP)
		}
		p.links.ctx, p.links.cancel = context.WithCancel(context.Background()) // ends the pages' live streams at Shutdown
		p.links.srv = &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
			BaseContext: func(net.Listener) context.Context { return p.links.ctx }}
	}
	p.service = evaluator.New(store, pub, lakefiles.NewQuarantine(cfg.Lake), scfg, cfg.Log, p.observe)
	scf := cfg.Stream
	if scf.QueueLen == 0 {
		// Small: the lag waits in the log, on disk, not in memory.
		batch := scf.BatchSize
		if batch <= 0 {
			batch = stream.DefaultBatchSize
		}
		scf.QueueLen = 2 * batch
	}
	scf.Delivered = p.tracker.markDone
	p.stream = stream.New(scf, p.evaluate, p.giveUp)
	p.sum.Resumed = int64(log.Next() - log.Checkpointed(consumerEvaluate))
	if err := p.loadPendingHours(); err != nil {
		if p.links != nil {
			_ = p.links.ln.Close()
			if p.links.dash != nil {
				_ = p.links.dash.Close()
			}
		}
		return nil, err
	}
	p.counted = make([]map[string]bool, max(cfg.Stream.Shards, stream.DefaultShards))
	for i := range p.counted {
		p.counted[i] = map[string]bool{}
	}
	started = true
	return p, nil
}

// evaluate hands a stream batch to the service: the stream's sequence numbers are the messages'
// ids, and the topic's device id comes with each.
func (p *pipeline) evaluate(ctx context.Context, batch []stream.Entry) ([]string, error) {
	msgs := make([]evaluator.Message, len(batch))
	for i, e := range batch {
		msgs[i] = evaluator.Message{ID: e.Seq, Source: fmt.Sprintf("local-shard-%d-%s", e.Shard, e.Seq), Data: e.Data,
			TopicDevice: e.PartitionKey, Arrival: e.Arrival}
	}
	out, err := p.service.Evaluate(ctx, msgs)
	p.count(batch, out)
	return out.Retry, err
}

// count adds the batch's final verdicts to the summary, each message once: a message the
// service wants again is counted when its verdict is final, one already counted in an earlier
// delivery of the same records is not counted again.
func (p *pipeline) count(batch []stream.Entry, out evaluator.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(batch) == 0 || len(out.Verdicts) != len(batch) {
		return
	}
	counted := p.counted[batch[0].Shard]
	for i, v := range out.Verdicts {
		seq := batch[i].Seq
		if v.Kind == evaluator.Retried || counted[seq] {
			continue
		}
		if ec := v.Elements; ec != nil { // a batched message: its elements, each counted
			p.sum.Readings += ec.Applied + ec.Late + ec.Duplicate
			p.sum.Late += ec.Late
			p.sum.Duplicates += ec.Duplicate
			for _, r := range ec.Rejected {
				p.sum.Rejected[r]++
			}
		} else {
			p.countOne(v)
		}
		if len(out.Retry) > 0 {
			counted[seq] = true // this batch comes again
		}
	}
	if len(out.Retry) == 0 {
		clear(counted) // done with these records: they do not come again
	}
}

// countOne adds a single reading's verdict to the summary (p.mu held).
func (p *pipeline) countOne(v evaluator.Verdict) {
	switch v.Kind {
	case evaluator.Applied:
		p.sum.Readings++
	case evaluator.Late:
		p.sum.Readings++
		p.sum.Late++
	case evaluator.Duplicate:
		p.sum.Readings++
		p.sum.Duplicates++
	case evaluator.Rejected:
		p.sum.Rejected[v.Reason]++
	}
}

func (p *pipeline) observe(s evaluator.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, n := range s.Alerts { // readings and rejections are counted from the verdicts (count)
		p.sum.Alerts[k] += n
	}
}

// giveUp is the stream's on-failure destination: the records go to errors/failed-batches/,
// written before the stream lets go of them (the log keeps them until then); a write that fails
// is tried again until it works or the run stops (then they stay in the log for the next start).
func (p *pipeline) giveUp(ctx context.Context, f stream.Failure) error {
	p.cfg.Log.Error("records given up after retries", "shard", f.Shard, "records", len(f.Records), "err", f.Err)
	p.fail(fmt.Errorf("%d records given up after retries: %w", len(f.Records), f.Err))
	p.giving.Lock()
	defer p.giving.Unlock()
	// Each record once (a failed Add takes its record back out), then the flush until it works
	// (a failed flush keeps what it could not write, and only that).
	retry := func(what string, write func() error) error {
		err := p.retry(ctx, what+" given-up records", func() error {
			err := write()
			p.stalled.Store(err != nil) // /healthz says the evaluation waits
			return err
		})
		if err != nil {
			return fmt.Errorf("keeping %d given-up records: %w", len(f.Records), err)
		}
		return nil
	}
	for _, r := range f.Records {
		if err := retry("buffering", func() error { return p.failed.Add(r.Data) }); err != nil {
			return err
		}
	}
	if err := retry("writing", p.failed.Flush); err != nil {
		return err
	}
	p.mu.Lock()
	p.sum.GivenUp += len(f.Records)
	p.mu.Unlock()
	return nil
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

func (p *pipeline) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// serve runs the run's rhythms until ctx is done.
func (p *pipeline) serve(ctx context.Context) {
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	var aggTick <-chan time.Time
	if p.cfg.Aggregator != nil && p.cfg.AggregateEvery > 0 {
		t := time.NewTicker(p.cfg.AggregateEvery)
		defer t.Stop()
		aggTick = t.C
	}
	cpTick := time.NewTicker(p.cfg.CheckpointEvery)
	defer cpTick.Stop()
	lastMsgs, lastTime := int64(0), time.Now()
	lastRejected := map[reading.Reason]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-cpTick.C:
			p.checkpoint(false)
		case <-aggTick:
			if err := p.aggregateTouched(ctx); err != nil {
				p.cfg.Log.Error("aggregation failed; it is tried again at the next round and when the run stops", "err", err)
			}
		case now := <-tick.C:
			p.store.Reload()
			if p.users != nil {
				p.users.Reload()
			}
			p.reloadDenyList()
			if p.outbox != nil {
				p.outbox.Reload()
			}
			p.checkSilence(ctx)
			msgs := p.broker.Accepted()
			p.rateBits.Store(math.Float64bits(float64(msgs-lastMsgs) / now.Sub(lastTime).Seconds()))
			if p.cfg.Progress != nil && (msgs != lastMsgs || p.lag() > 0) {
				p.mu.Lock()
				alerts := total(p.sum.Alerts)
				// the rejections since the last line, as they happen (the summary has them all)
				rejected := reading.Counts{}
				for r, n := range p.sum.Rejected {
					if d := n - lastRejected[r]; d > 0 {
						rejected[r] = d
					}
					lastRejected[r] = n
				}
				p.mu.Unlock()
				var rej string
				if n := rejected.Total(); n > 0 {
					rej = fmt.Sprintf("  rejected %d: %s", n, rejected)
				}
				fmt.Fprintf(p.cfg.Progress, "%s  %8.0f readings/s  %d messages  %d alerts  lag %d%s\n", now.Format("15:04:05"),
					float64(msgs-lastMsgs)/now.Sub(lastTime).Seconds(), msgs, alerts, p.lag(), rej)
			}
			lastMsgs, lastTime = msgs, now
		}
	}
}

// reloadDenyList reads the deny list again if it changed and disconnects the devices it now
// names. A list that cannot be read is said once, and the one read last stays in force.
func (p *pipeline) reloadDenyList() {
	if p.cfg.Revoked == nil {
		return
	}
	changed, err := p.cfg.Revoked.Reload()
	if err != nil {
		if msg := err.Error(); msg != p.denyErr {
			p.denyErr = msg
			p.cfg.Log.Error("the deny list of device certificates could not be read; the one read before stays in force", "err", err)
		}
		return
	}
	p.denyErr = ""
	if changed {
		n := p.broker.DropRevoked()
		p.cfg.Log.Warn("the deny list of device certificates was read again", "disconnected", n)
	}
}

// checkSilence opens the silences and silence reminders that are due on the run's clock.
func (p *pipeline) checkSilence(ctx context.Context) {
	now := time.Now()
	if p.cfg.Clock == ClockWatermark {
		// The watermark moves only with the stream drained: while shards lag each other, a
		// device behind in its shard would look silent against another shard's readings.
		if p.lag() > 0 {
			return
		}
		var ok bool
		if now, ok = p.store.Watermark(); !ok {
			return
		}
	}
	ids := p.store.Due(now)
	if len(ids) == 0 {
		return
	}
	// A conflict means a reading of the device was applied meanwhile: the next round looks again.
	if _, err := p.service.CheckSilence(ctx, ids, now); err != nil && !errors.Is(err, evaluator.ErrConflict) {
		p.cfg.Log.Error("silence check", "devices", len(ids), "err", err)
	}
}

// rate is the messages acknowledged per second over the last Tick.
func (p *pipeline) rate() float64 { return math.Float64frombits(p.rateBits.Load()) }

// lag is the number of acknowledged messages the evaluation has not done.
func (p *pipeline) lag() int64 {
	low := p.tracker.low() // read before Next: Next only grows, so never below low
	return int64(p.log.Next() - min(low, p.log.Next()))
}

// bronzeLag is the acknowledged messages not yet written to bronze (never below 0: the two are
// read at different moments).
func (p *pipeline) bronzeLag() int64 {
	done := p.bronzeDone()
	next := p.log.Next()
	return int64(next - min(done, next))
}

// stop stops accepting, drains the log through the stream and bronze (printing progress; Abort
// stops the drain, leaving the rest in the log), flushes every writer, checkpoints, and
// aggregates the hours that received readings: every acknowledged message ends up in the lake.
func (p *pipeline) stop(ctx context.Context, cancelStream func()) {
	p.cfg.Log.Info("stopping: draining the log and flushing the lake")
	p.stopping.Store(true)
	if err := p.broker.Close(); err != nil {
		p.fail(err)
	}
	_ = p.log.Close() // no more appends: its readers read to its end
	drained := make(chan struct{})
	go func() {
		p.feeders.Wait()
		p.stream.Close()
		close(drained)
	}()
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	last, lastAt := p.lag(), time.Now()
wait:
	for {
		select {
		case <-drained:
			break wait
		case <-p.cfg.Abort:
			p.aborted = true
			cancelStream() // the consumers stop where they are
			<-drained
			break wait
		case now := <-tick.C:
			p.checkpoint(false)
			left := p.lag()
			if p.cfg.Progress != nil {
				rate := float64(last-left) / now.Sub(lastAt).Seconds()
				eta := "?"
				if rate > 0 {
					eta = time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
				}
				fmt.Fprintf(p.cfg.Progress, "%s  draining: %d messages left, %.0f/s, about %s (Ctrl-C again stops now; the rest waits in the log)\n",
					now.Format("15:04:05"), left, rate, eta)
			}
			last, lastAt = left, now
		}
	}
	if !p.aborted {
		p.checkSilence(ctx) // the clock as the last readings left it
	}
	for _, w := range []*lakefiles.Writer{p.alerts, p.failed} {
		if err := w.Flush(); err != nil {
			p.fail(err)
		}
	}
	p.checkpoint(true)
	if left := p.lag(); left > 0 && p.cfg.Progress != nil {
		fmt.Fprintf(p.cfg.Progress, "stopped with %d messages not evaluated: they are in the log, and the next start takes them\n", left)
	}
	if p.outbox != nil {
		// The evaluation is done: no more alerts but a person's action through the links, which
		// is queued on disk for the next start if it comes after this.
		drain := p.cfg.NotifyDrain
		if drain <= 0 {
			drain = DefaultNotifyDrain
		}
		if p.aborted {
			drain = 0
		}
		p.outbox.Stop(drain, p.cfg.Progress, p.cfg.Abort)
	}
	if p.aborted {
		return // the hours wait in the pending list for the next start
	}
	if err := p.aggregateTouched(ctx); err != nil {
		p.fail(err)
	}
}

// aggregateTouched aggregates the hours that received readings since it last ran. Hours that
// failed are kept for the next round.
func (p *pipeline) aggregateTouched(ctx context.Context) error {
	if p.cfg.Aggregator == nil {
		return nil
	}
	// The hours first, then the flush: a record added between the two is in the lake and its hour
	// touched again, for the next round.
	hours := p.bronze.Touched()
	for _, w := range []*lakefiles.Writer{p.bronze, p.alerts} {
		if err := w.Flush(); err != nil {
			p.bronze.Touch(hours...)
			return err
		}
	}
	if len(hours) == 0 {
		return nil
	}
	acfg := aggregate.DefaultConfig
	acfg.Interval, acfg.Concurrency = p.cfg.Interval, 1
	acfg.Yesterday = true // a day's daily_metrics, once its late window has passed, even if no later reading touches it
	if p.stopping.Load() && p.cfg.Progress != nil {
		acfg.Progress = aggregationProgress(p.cfg.Progress, time.Now)
		fmt.Fprintf(p.cfg.Progress, "%s  aggregating %d hours into silver and gold\n",
			time.Now().Format("15:04:05"), len(hours))
	}
	res, err := aggregate.NewHandler(p.cfg.Aggregator, acfg, p.cfg.Log, nil).WithCatalog(p.store.Catalog).Run(ctx, hours)
	p.mu.Lock()
	p.sum.Hours = append(p.sum.Hours, res.Hours...)
	p.mu.Unlock()
	if err != nil {
		p.bronze.Touch(hours...) // not lost: tried again
		return fmt.Errorf("aggregating %d hours: %w", len(hours), err)
	}
	return p.savePendingHours()
}

// aggregationProgress prints the hours aggregated, their rate and the time left, once a second
// at most and at the last hour.
func aggregationProgress(w io.Writer, now func() time.Time) func(done, total int) {
	start := now()
	var last time.Time
	return func(done, total int) {
		t := now()
		if done < total && t.Sub(last) < Tick {
			return
		}
		last = t
		rate := float64(done) / max(t.Sub(start).Seconds(), 1e-3)
		left := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(w, "%s  aggregating: %d of %d hours, %.1f hours/s, about %s left\n", t.Format("15:04:05"), done, total, rate, left)
	}
}

func (p *pipeline) summary() Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sum
	s.Rejected, s.Alerts = maps.Clone(p.sum.Rejected), maps.Clone(p.sum.Alerts) // the caller reads them unlocked
	s.Hours = slices.Clone(p.sum.Hours)
	if p.broker != nil {
		s.Messages = p.broker.Accepted()
	}
	s.Bronze, s.Unframed = p.bronze.Written(), p.bronze.Unframed()
	s.Batches, s.Retries = p.stream.Stats()
	s.Log, s.StateLog = p.log.Stats(), p.store.JournalStats()
	if p.outbox != nil {
		s.Notify = p.outbox.Stats()
	}
	return s
}

func total[K comparable](m map[K]int) int {
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
	fmt.Fprintf(&b, "messages %d", s.Messages)
	if s.Resumed > 0 {
		fmt.Fprintf(&b, " (and %d resumed from the log)", s.Resumed)
	}
	fmt.Fprintf(&b, ", readings %d, rejected %d", s.Readings, rejected.Total())
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
	fmt.Fprintf(&b, "bronze %d records", s.Bronze)
	if s.Unframed > 0 {
		fmt.Fprintf(&b, " (%d left out: not one line, quarantined)", s.Unframed)
	}
	fmt.Fprintf(&b, "; stream %d batches, %d retries; given up %d; hours aggregated %d\n",
		s.Batches, s.Retries, s.GivenUp, len(s.Hours))
	if s.Notify.Counts != nil {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(s.Notify.Counts)) {
			if c := s.Notify.Counts[k]; c != (notify.Counts{}) {
				kinds = append(kinds, fmt.Sprintf("%s sent %d, retried %d, failed %d", k, c.Sent, c.Retried, c.Failed))
			}
		}
		if len(kinds) == 0 {
			kinds = []string{"nothing sent"}
		}
		fmt.Fprintf(&b, "notify: %s; queued %d\n", strings.Join(kinds, "; "), s.Notify.Queued)
	}
	return b.String()
}
