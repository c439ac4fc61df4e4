// Package evaluator is the evaluate function's handler: it takes a Kinesis batch of readings,
// quarantines the invalid ones, loads each device's thresholds, metadata and alarm state (one read
// per device), applies the readings in order, publishes the alerts, and records the new state.
//
// Ordering of effects, and the one window for a duplicate alert: for each device, alerts are
// published first and the alarm state that raised them is written after (conditionally on the
// version that was read). If publishing fails, the state is not written and the device's records
// are reported as batch item failures: the retry raises the same alerts (same ids) and publishes
// them then, so no alert is lost. If publishing succeeds but the state write fails (or the function
// dies between the two), the retry publishes those alerts a second time, with the same alert_id.
// That is the only window for a duplicate; consumers can drop repeats by alert_id. Once the state
// is recorded, a replayed or overlapping batch finds its readings late or duplicate and raises nothing.
package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Device is everything evaluation needs of one device.
type Device struct {
	Configs []threshold.Config // every user's thresholds for the device
	Info    device.Device      // name and location, for alert texts
	State   alarm.DeviceState  // alarm state, read fresh
}

// Store is where thresholds, device metadata and alarm state live (DynamoDB on AWS).
type Store interface {
	// LoadDevice reads everything of one device in one request.
	LoadDevice(ctx context.Context, id string) (Device, error)
	// LoadStates reads only the alarm states of many devices, batched; an absent state is the zero state.
	LoadStates(ctx context.Context, ids []string) (map[string]alarm.DeviceState, error)
	// SaveState writes a device's state if its stored version still equals st.Version, and then
	// increments st.Version. A changed version is an error wrapping ErrConflict.
	SaveState(ctx context.Context, id string, st *alarm.DeviceState) error
}

// ErrConflict is returned (wrapped) by a Store when a conditional state write lost a race.
var ErrConflict = errors.New("alarm state changed since it was read")

// Notice is an alert with what its texts need to know about the device.
type Notice struct {
	Alert  alert.Alert
	Device device.Device
}

// Publisher sends alerts to their subscribers (SNS on AWS).
type Publisher interface {
	// Publish sends every notice; the result has one entry per notice, nil where it was accepted.
	Publish(ctx context.Context, notices []Notice) []error
}

// Quarantine keeps rejected records (S3 on AWS).
type Quarantine interface {
	// Put stores the records of one batch; key identifies the batch, so that a retry of the
	// same batch overwrites instead of adding.
	Put(ctx context.Context, key string, recs []lake.Rejected) error
}

// Config tunes the handler.
type Config struct {
	// CacheTTL is how long thresholds and metadata of a device are reused; 0 disables the cache.
	CacheTTL time.Duration
	// LoadConcurrency bounds parallel store calls.
	LoadConcurrency int
	// TopicFromPartitionKey says that a record's partition key is the device id of the MQTT topic
	// (the IoT rule keys the stream by ${topic(2)}), to be checked against the reading's device_id.
	TopicFromPartitionKey bool
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

// DefaultConfig is what the Lambda uses unless its environment says otherwise.
var DefaultConfig = Config{CacheTTL: 60 * time.Second, LoadConcurrency: 16, TopicFromPartitionKey: true}

// Handler evaluates Kinesis batches. Safe for concurrent use.
type Handler struct {
	store      Store
	publisher  Publisher
	quarantine Quarantine
	cfg        Config
	log        *slog.Logger
	observe    func(Stats)

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	configs []threshold.Config
	info    device.Device
	at      time.Time
}

// New returns a handler. observe, when not nil, receives the figures of each batch (for metrics).
func New(store Store, pub Publisher, q Quarantine, cfg Config, log *slog.Logger, observe func(Stats)) *Handler {
	if cfg.LoadConcurrency <= 0 {
		cfg.LoadConcurrency = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, publisher: pub, quarantine: q, cfg: cfg, log: log, observe: observe, cache: map[string]cached{}}
}

// Stats are the figures of one batch.
type Stats struct {
	Records, Readings, Late, Duplicates int
	Rejected                            map[reading.Reason]int
	Alerts                              map[string]int // "KIND SEVERITY"
	DevicesLoaded, DevicesCached        int
	StateWrites, StateConflicts         int
	FailedDevices, FailedRecords        int
	// PublishedUncommitted counts alerts published whose state could not be recorded: they will be
	// published again on the retry (the documented duplicate window).
	PublishedUncommitted int
	Duration             time.Duration
}

// group is one device's valid readings in the batch, in arrival order.
type group struct {
	id          string
	firstSeq    string // sequence number of the device's first record in the batch
	first, last int32  // the device's first and last reading in the batch's chain
	n           int
	dev         Device
	err         error // what failed for this device, if anything
	from, to    int   // the device's alerts: notices[from:to] of the batch
	changed     bool
	cached      bool // thresholds and metadata came from the cache
}

// batch is the scratch space of one batch, pooled: a batch of readings is large and full of
// pointers, and allocating it anew for every batch would make the garbage collector the busiest
// part of the function.
type batch struct {
	readings []reading.Reading
	next     []int32 // next[i]: the same device's next reading after readings[i], or -1
	notices  []Notice
}

var batches = sync.Pool{New: func() any { return new(batch) }}

func (b *batch) reset() {
	clear(b.readings)
	clear(b.notices)
	b.readings, b.next, b.notices = b.readings[:0], b.next[:0], b.notices[:0]
}

// Handle processes one batch. It returns an error only when the context is done; every other
// failure is reported per record so that one device or one bad record never blocks the others.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	start := h.cfg.Now()
	st := Stats{Records: len(ev.Records), Rejected: map[reading.Reason]int{}, Alerts: map[string]int{}}
	var failed []string // sequence numbers to report

	// 1. Decode; group valid readings by device, keeping arrival order. The readings may refer to
	// the event's bytes (Alias): both live until the batch is done.
	dec := reading.Decoder{Alias: true}
	b := batches.Get().(*batch)
	defer func() { b.reset(); batches.Put(b) }()
	groups := map[string]*group{}
	var order []*group
	var rejected []lake.Rejected
	var rejectedSeq []string
	for i := range ev.Records {
		k := &ev.Records[i].Kinesis
		opts := reading.Options{Arrival: k.ApproximateArrivalTimestamp.Time}
		if h.cfg.TopicFromPartitionKey {
			opts.TopicDevice = k.PartitionKey
		}
		r, err := dec.Decode(k.Data, opts)
		if err != nil {
			var rej *reading.Rejection
			if !errors.As(err, &rej) {
				rej = &reading.Rejection{Reason: reading.MalformedJSON, Detail: err.Error()}
			}
			st.Rejected[rej.Reason]++
			rejected = append(rejected, rejectedRecord(&ev.Records[i], opts, rej))
			rejectedSeq = append(rejectedSeq, k.SequenceNumber)
			continue
		}
		st.Readings++
		idx := int32(len(b.readings))
		b.readings = append(b.readings, r)
		b.next = append(b.next, -1)
		g := groups[r.DeviceID]
		if g == nil {
			g = &group{id: r.DeviceID, firstSeq: k.SequenceNumber, first: idx}
			groups[r.DeviceID] = g
			order = append(order, g)
		} else {
			b.next[g.last] = idx
		}
		g.last = idx
		g.n++
	}

	// 2. Quarantine. A failed write fails those records (retried); they never block valid ones.
	if len(rejected) > 0 {
		key := quarantineKey(ev.Records[0].EventID, ev.Records[0].Kinesis.SequenceNumber)
		if err := h.quarantine.Put(ctx, key, rejected); err != nil {
			h.log.ErrorContext(ctx, "quarantine write failed", "records", len(rejected), "err", err)
			failed = append(failed, rejectedSeq...)
		}
	}

	// 3. Load each device: thresholds and metadata from the cache when fresh, state always fresh.
	h.load(ctx, order, &st)

	// 4. Evaluate each device's readings in order; its alerts are notices[g.from:g.to].
	var owners []*group
	for _, g := range order {
		if g.err != nil {
			continue
		}
		d := alarm.NewDevice(&g.dev.State, g.dev.Configs)
		g.from = len(b.notices)
		emit := func(a alert.Alert) { b.notices = append(b.notices, Notice{Alert: a, Device: g.dev.Info}) }
		for i := g.first; i >= 0; i = b.next[i] {
			switch d.Apply(&b.readings[i], emit) {
			case alarm.Late:
				st.Late++
			case alarm.Duplicate:
				st.Duplicates++
			}
		}
		g.to = len(b.notices)
		for range g.to - g.from {
			owners = append(owners, g)
		}
		// A device nobody set thresholds for has no alarm state worth a write.
		g.changed = d.Finish() && len(g.dev.Configs) > 0
	}

	// 5. Publish. A device with any alert not accepted keeps its old state and is retried.
	if len(b.notices) > 0 {
		errs := h.publisher.Publish(ctx, b.notices)
		for i, err := range errs {
			if err != nil && owners[i].err == nil {
				owners[i].err = fmt.Errorf("publishing alert %s: %w", b.notices[i].Alert.AlertID, err)
			}
		}
	}

	// 6. Record state of the devices that changed and published everything.
	h.save(ctx, order, &st)

	for _, g := range order {
		if g.err != nil {
			st.FailedDevices++
			failed = append(failed, g.firstSeq)
			h.log.WarnContext(ctx, "device will be retried", "device_id", g.id, "readings", g.n, "err", g.err)
			continue
		}
		for _, n := range b.notices[g.from:g.to] {
			st.Alerts[string(n.Alert.Kind)+" "+n.Alert.Severity]++
		}
	}
	st.FailedRecords = len(failed)
	st.Duration = h.cfg.Now().Sub(start)
	if h.observe != nil {
		h.observe(st)
	}
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for _, seq := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
	}
	return resp, ctx.Err()
}

func rejectedRecord(rec *events.KinesisEventRecord, opts reading.Options, rej *reading.Rejection) lake.Rejected {
	out := lake.Rejected{
		Reason:      string(rej.Reason),
		Detail:      rej.Detail,
		ArrivalTime: opts.Arrival.UTC(),
		TopicDevice: rec.Kinesis.PartitionKey,
		Source:      rec.EventID,
		DataBase64:  rec.Kinesis.Data,
	}
	if out.Source == "" {
		out.Source = rec.Kinesis.SequenceNumber
	}
	if len(rec.Kinesis.Data) <= 4096 && utf8.Valid(rec.Kinesis.Data) {
		out.DataText = string(rec.Kinesis.Data)
	}
	return out
}

func quarantineKey(eventID, seq string) string {
	if eventID != "" {
		return eventID
	}
	return seq
}

// load fills g.dev (or g.err) for every group.
func (h *Handler) load(ctx context.Context, order []*group, st *Stats) {
	now := h.cfg.Now()
	var fresh, cachedIDs []string
	var cachedGroups []*group
	h.mu.Lock()
	for _, g := range order {
		if c, ok := h.cache[g.id]; ok && h.cfg.CacheTTL > 0 && now.Sub(c.at) < h.cfg.CacheTTL {
			g.dev.Configs, g.dev.Info, g.cached = c.configs, c.info, true
			cachedIDs = append(cachedIDs, g.id)
			cachedGroups = append(cachedGroups, g)
		} else {
			fresh = append(fresh, g.id)
		}
	}
	h.mu.Unlock()
	st.DevicesCached = len(cachedIDs)
	st.DevicesLoaded = len(fresh)

	var loads errgroup.Group // errors stay per device, in g.err
	loads.SetLimit(h.cfg.LoadConcurrency)
	for _, g := range order {
		if g.cached {
			continue
		}
		loads.Go(func() error {
			d, err := h.store.LoadDevice(ctx, g.id)
			if err != nil {
				g.err = fmt.Errorf("loading device %s: %w", g.id, err)
				return nil
			}
			g.dev = d
			if g.dev.Info.ID == "" {
				g.dev.Info.ID = g.id
			}
			if g.dev.Configs == nil {
				g.dev.Configs = []threshold.Config{}
			}
			h.mu.Lock()
			h.cache[g.id] = cached{configs: g.dev.Configs, info: g.dev.Info, at: now}
			h.mu.Unlock()
			return nil
		})
	}
	if len(cachedIDs) > 0 {
		states, err := h.store.LoadStates(ctx, cachedIDs)
		for _, g := range cachedGroups {
			if err != nil {
				g.err = fmt.Errorf("loading alarm state of %s: %w", g.id, err)
				continue
			}
			g.dev.State = states[g.id]
		}
	}
	loads.Wait()
}

// save writes the state of every changed device that has no error, in parallel.
func (h *Handler) save(ctx context.Context, order []*group, st *Stats) {
	var saves errgroup.Group // errors stay per device, in g.err
	saves.SetLimit(h.cfg.LoadConcurrency)
	var mu sync.Mutex
	for _, g := range order {
		if g.err != nil || !g.changed {
			continue
		}
		saves.Go(func() error {
			err := h.store.SaveState(ctx, g.id, &g.dev.State)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				g.err = fmt.Errorf("saving alarm state of %s: %w", g.id, err)
				st.PublishedUncommitted += g.to - g.from
				if errors.Is(err, ErrConflict) {
					st.StateConflicts++
					h.mu.Lock()
					delete(h.cache, g.id) // a conflict may mean the thresholds moved too
					h.mu.Unlock()
				}
				return nil
			}
			st.StateWrites++
			return nil
		})
	}
	saves.Wait()
}
