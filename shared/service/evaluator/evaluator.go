// Package evaluator is the evaluation core that every transport feeds: messages in (the bytes of
// a reading, the device id of its MQTT topic, a position to report for a retry), outcomes out
// (which messages to deliver again). It quarantines the invalid ones, loads each device's
// thresholds, metadata and alarm state (one read per device), applies the readings in order,
// publishes the alerts and records the new state. It knows no transport: the Kinesis/Lambda edge
// (shared/aws/kinesislambda) and the local stream (shared/local/runner) each turn what they carry
// into Messages.
//
// Ordering of effects, and when an alert can be published twice: for each device, alerts are
// published first and the alarm state that raised them is written after (conditionally on the
// version that was read). If publishing fails, the state is not written and the device's first
// message is reported for retry: the retry raises the same alerts (same ids) and publishes them
// then, so no alert is lost. A duplicate (same alert_id) can reach subscribers in two cases only:
//   - an alert was published but its device's state was not recorded: the state write failed (a
//     conflict: another process, or a person's action (Act), wrote the state meanwhile; a batch
//     and the silence check of one Service take turns on a device, see deviceLocks), the process
//     died between the two, another alert of the same device was refused (a device's alerts may
//     go out in several publish calls), or its alerts held for quiet hours could not be kept for
//     the digest; the retry publishes it again (Stats.PublishedUncommitted counts these);
//   - the publisher's service accepted a publish but its answer was lost (a timeout, a reset
//     connection): the SDK sends the same request again, and every alert in it goes out twice.
//
// Consumers that must never see a repeat drop repeats by alert_id. Once the state is recorded, a
// replayed or overlapping batch finds its readings late or duplicate and raises nothing.
package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
)

// Message is one reading as a transport delivered it.
type Message struct {
	// ID is the message's position in its transport (a Kinesis sequence number, a local stream
	// offset): Outcome.Retry reports these. Unique within a batch.
	ID string
	// Source names the message for lineage in quarantine (a Kinesis event id); "" means ID.
	Source string
	// Data is the message as published; it must stay unchanged until Evaluate returns.
	Data []byte
	// TopicDevice is the device id of the MQTT topic the message came on, checked against the
	// reading's device_id; "" when the transport does not know it.
	TopicDevice string
	// Arrival is when the transport received the message.
	Arrival time.Time
}

// Outcome is what became of a batch.
type Outcome struct {
	// Retry holds the IDs of the messages to deliver again, with everything after them (as
	// Kinesis retries from the lowest failed sequence number): the first message of each device
	// that failed, and the rejected messages whose quarantine write failed.
	Retry []string
	Stats Stats
	// Verdicts, when Config.Verdicts asks for them, says what became of each message, in the
	// batch's order: a transport that redelivers can count each message once.
	Verdicts []Verdict
}

// VerdictKind is what became of one message.
type VerdictKind uint8

// The verdicts. Retried: nothing is final yet, the message must come again.
const (
	Retried VerdictKind = iota
	Applied
	Late
	Duplicate
	Rejected
)

// unkept marks, while a batch is evaluated, a message whose rejected elements could not be
// quarantined: it is retried whatever its other elements became.
const unkept VerdictKind = 255

// Verdict is what became of one message; Reason for a rejected one.
type Verdict struct {
	Kind   VerdictKind
	Reason reading.Reason
	// Elements, for a batched message of more than one reading (or with a bad element), counts
	// what became of each of its elements; Kind is then the most telling one's.
	Elements *ElementCounts
}

// ElementCounts are what became of a batched message's elements.
type ElementCounts struct {
	Applied, Late, Duplicate int
	Rejected                 []reading.Reason // one a rejected element, in array order
}

// Device is everything evaluation needs of one device.
type Device struct {
	Configs []threshold.Config // every user's thresholds for the device (the wide file's)
	// Rows are the rules of the long form that may apply to the device: its own, its location's
	// and the fleet's; the most specific wins (InForce).
	Rows []rule.Row
	// RowsAsOf is when the rows of the location and the fleet were read, when a store caches
	// them (dynamostore); zero: just now. The service's cache counts the device's age from it,
	// so that a rule's edit reaches every device within the bound of the store's cache.
	RowsAsOf time.Time
	Info     device.Device // name and location, for alert texts and the rows' location
	State    State         // alarm state, read fresh
}

// InForce are the device's rules in force: its wide configs' device rows and its long rows,
// the most specific row winning per (user, metric, rule).
func (d *Device) InForce() []rule.InForce {
	switch {
	case len(d.Rows) == 0:
		return alarm.InForce(d.Configs)
	case len(d.Configs) == 0:
		return rule.Resolve(d.Rows, d.Info)
	}
	return rule.Resolve(append(rule.FromConfigs(d.Configs), d.Rows...), d.Info)
}

// Watched reports whether any rule is set for the device.
func (d *Device) Watched() bool { return len(d.Configs) > 0 || len(d.Rows) > 0 }

// State is a device's alarm state as a store holds it.
type State struct {
	Alarm alarm.DeviceState
	// Version is the store's optimistic-lock counter: 0 for a device with no stored state, then
	// the value SaveState returned.
	Version int64
	// Due is when the device's next silence or silence reminder may fall due (zero: none),
	// rounded down to a coarse grid (see indexedDue): stores index it, so that the silence check
	// finds the devices that are due without a scan, and a device that keeps reporting keeps the
	// same Due over many writes (an unchanged index key costs no index write).
	Due time.Time
}

// Clone returns a deep copy of s.
func (s State) Clone() State { return State{Alarm: s.Alarm.Clone(), Version: s.Version, Due: s.Due} }

// Tables is what a store that keeps everything in memory (the file store, the memory store)
// looks devices up in, under its lock; it answers LoadDevice and LoadStates with copies the
// caller owns. The store changes the tables itself, holding Mu.
type Tables struct {
	Mu      sync.Mutex
	Configs map[string][]threshold.Config // by device id
	Rows    []rule.Row                    // the long form's rows, every scope
	Devices map[string]device.Device
	States  map[string]State
	Metrics *reading.Catalog // the metrics catalog (nil: the built-ins only)
}

// Catalog is Store.Catalog.
func (t *Tables) Catalog(context.Context) (*reading.Catalog, error) {
	t.Mu.Lock()
	defer t.Mu.Unlock()
	return t.Metrics, nil
}

// NewTables returns empty tables.
func NewTables() Tables {
	return Tables{Configs: map[string][]threshold.Config{}, Devices: map[string]device.Device{}, States: map[string]State{}}
}

// LoadDevice is Store.LoadDevice.
func (t *Tables) LoadDevice(_ context.Context, id string) (Device, error) {
	t.Mu.Lock()
	defer t.Mu.Unlock()
	return t.DeviceLocked(id), nil
}

// DeviceLocked is LoadDevice's answer for id, t.Mu held.
func (t *Tables) DeviceLocked(id string) Device {
	d := Device{Configs: slices.Clone(t.Configs[id]), Info: t.Devices[id], State: t.States[id].Clone()}
	if d.Info.ID == "" {
		d.Info.ID = id
	}
	n := 0
	for i := range t.Rows {
		if rule.Applies(t.Rows[i].Scope, d.Info) {
			n++
		}
	}
	if n > 0 {
		d.Rows = make([]rule.Row, 0, n)
		for i := range t.Rows {
			if rule.Applies(t.Rows[i].Scope, d.Info) {
				d.Rows = append(d.Rows, t.Rows[i])
			}
		}
	}
	return d
}

// LoadStates is Store.LoadStates.
func (t *Tables) LoadStates(_ context.Context, ids []string) (map[string]State, error) {
	t.Mu.Lock()
	defer t.Mu.Unlock()
	out := make(map[string]State, len(ids))
	for _, id := range ids {
		out[id] = t.States[id].Clone()
	}
	return out, nil
}

// Store is where thresholds, device metadata and alarm state live (DynamoDB on AWS, files on one
// machine). What it returns belongs to the caller: the caller may change it freely, and the
// store's own copy changes only through SaveState. shared/testsupport/storetest states this
// contract as a suite that every Store runs.
type Store interface {
	// LoadDevice reads everything of one device in one request.
	LoadDevice(ctx context.Context, id string) (Device, error)
	// LoadStates reads only the alarm states of many devices, batched; an absent state is the
	// zero State.
	LoadStates(ctx context.Context, ids []string) (map[string]State, error)
	// SaveState writes st.Alarm if the stored version still equals st.Version, and returns the
	// new version. A changed version is an error wrapping ErrConflict, and stores nothing.
	SaveState(ctx context.Context, id string, st State) (int64, error)
	// Catalog is the metrics catalog in force (nil: the built-ins only), read at most as stale
	// as the rules of scopes are (table.RulesCacheBound) and with no request of its own: a batch
	// is decoded and judged with it. The caller must not change it.
	Catalog(ctx context.Context) (*reading.Catalog, error)
}

// StatesSaver is a Store that writes the states of many devices at once (the file store: one
// write and one fsync for a batch). Each write is SaveState's, its version checked on its own;
// the answers have one entry per write.
type StatesSaver interface {
	SaveStates(ctx context.Context, writes []StateWrite) (versions []int64, errs []error)
}

// StateWrite is one device's state to save.
type StateWrite struct {
	ID    string
	State State
}

// ErrConflict is returned (wrapped) by a Store when a conditional state write lost a race.
var ErrConflict = errors.New("alarm state changed since it was read")

// Notice is an alert with what its texts need to know about the device.
type Notice struct {
	Alert  alert.Alert
	Device device.Device
	// Held, for a digest (kind DIGEST), lists the alerts it summarizes.
	Held []alert.Alert
	// AckLink and SnoozeLink are the alert's one-click links ("" when none: Config.Linker unset,
	// or a kind with nothing to act on).
	AckLink, SnoozeLink string
	// Catalog names the units of declared metrics for the texts (nil: the built-ins' only).
	Catalog *reading.Catalog
	// EpisodeStartMs is the start of the episode the alert belongs to (its OPEN's window start),
	// for OPEN, ESCALATE, REMIND and RESOLVE; 0 when not known. An ESCALATE's own window is its
	// VIOLATION run, so this is how a channel (PagerDuty's dedup key) files it under its episode.
	// It travels beside the alert (an SNS message attribute), not in its JSON.
	EpisodeStartMs int64
	// User is the preferences of the alert's user, whose units and time zone the texts use
	// (nil: none known, metric and UTC).
	User *user.User
}

// Presentation is how the notice's user reads its texts (alert.Presentation): their units and
// time zone, the catalog's units.
func (n *Notice) Presentation() alert.Presentation {
	if n.Catalog == nil {
		return n.User.Presentation(nil) // no typed nil in the interface
	}
	return n.User.Presentation(n.Catalog)
}

// Linker makes the one-click links of an alert of the episode that opened at episodeStartMs,
// sent at sent (shared/service/links).
type Linker interface {
	LinksFor(a *alert.Alert, episodeStartMs int64, sent time.Time) (ack, snooze string)
}

// Publisher sends alerts to their subscribers (SNS on AWS).
type Publisher interface {
	// Publish sends every notice; the result has one entry per notice, nil where it was accepted.
	Publish(ctx context.Context, notices []Notice) []error
}

// Quarantine keeps rejected records (S3 on AWS).
type Quarantine interface {
	// Put stores the rejected records of one batch; key names the batch (its first message), so
	// a retry of the same batch overwrites its objects. A retry that starts later in the batch
	// (Kinesis resumes from the lowest failed record) writes the rejected records after that
	// point again, under another name: each record carries its source, by which readers drop
	// repeats (the rejections index is a set, so the lake's counts are not affected).
	Put(ctx context.Context, key string, recs []lake.Rejected) error
}

// Config tunes the service.
type Config struct {
	// CacheTTL is how long thresholds and metadata of a device are reused; 0 disables the cache.
	CacheTTL time.Duration
	// LoadConcurrency bounds parallel store calls.
	LoadConcurrency int
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
	// Verdicts asks for Outcome.Verdicts.
	Verdicts bool
	// Users holds people's preferences (quiet hours); nil: nobody has quiet hours.
	Users Users
	// Held keeps the alerts held for quiet hours until their user's digest; nil: no digest.
	Held Held
	// Linker adds one-click links to the alerts; nil: none.
	Linker Linker
}

// Users is where people's preferences live (DynamoDB on AWS, the users CSV on one machine).
type Users interface {
	// LoadUsers reads the preferences of the given users; one without any is absent.
	LoadUsers(ctx context.Context, ids []string) (map[string]user.User, error)
}

// The defaults of Config, as the evaluate function runs.
const (
	DefaultCacheTTL        = 60 * time.Second
	DefaultLoadConcurrency = 16
)

// DefaultConfig is what the evaluate function uses unless its environment says otherwise.
var DefaultConfig = Config{CacheTTL: DefaultCacheTTL, LoadConcurrency: DefaultLoadConcurrency}

// Service evaluates batches of messages. Safe for concurrent use.
type Service struct {
	store      Store
	publisher  Publisher
	quarantine Quarantine
	cfg        Config
	log        *slog.Logger
	observe    func(Stats)

	devices deviceLocks // one device's read-publish-write at a time (devicelock.go)

	mu    sync.Mutex
	cache map[string]cached
	users map[string]cachedUser
}

type cachedUser struct {
	u     user.User
	known bool // the store has preferences for this user
	at    time.Time
}

type cached struct {
	rules []rule.InForce // the device's configs and rows resolved (Device.InForce): read only
	info  device.Device
	at    time.Time // when they were read (the older of the device's and its scopes' reads)
}

// New returns a service. observe, when not nil, receives the figures of each batch (for metrics).
func New(store Store, pub Publisher, q Quarantine, cfg Config, log *slog.Logger, observe func(Stats)) *Service {
	if cfg.LoadConcurrency <= 0 {
		cfg.LoadConcurrency = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, publisher: pub, quarantine: q, cfg: cfg, log: log, observe: observe, cache: map[string]cached{},
		users: map[string]cachedUser{}}
}

// AlertKey is what alerts are counted by.
type AlertKey struct {
	Kind     alert.Kind
	Severity alert.Severity
}

func (k AlertKey) String() string { return string(k.Kind) + " " + string(k.Severity) }

// Stats are the figures of one batch.
type Stats struct {
	Records, Readings, Late, Duplicates int
	Rejected                            map[reading.Reason]int
	Alerts                              map[AlertKey]int // published alerts of devices that completed
	DevicesLoaded, DevicesCached        int
	StateWrites, StateConflicts         int
	FailedDevices, FailedRecords        int
	// PublishedUncommitted counts alerts published whose device's state was not recorded (its
	// write failed, or another of its alerts was refused): the retry publishes them again (the
	// first duplicate case of the package doc).
	PublishedUncommitted int
	Duration             time.Duration
	// DueLag is, for a silence check, how long the longest-waiting device had been due (by its
	// own rules, not by the store's rounded Due) when the check loaded it.
	DueLag time.Duration
}

// group is one device's valid readings in the batch, in arrival order.
type group struct {
	id          string
	firstID     string // ID of the device's first message in the batch
	first, last int32  // the device's first and last reading in the batch's chain
	n           int
	dev         Device
	err         error // what failed for this device, if anything
	from, to    int   // the device's alerts: notices[from:to] of the batch
	changed     bool
	cached      bool           // the rules and metadata came from the cache
	rules       []rule.InForce // the rules in force (dev.InForce), kept with the cache: read only
}

// batch is the scratch space of one batch, pooled: a batch of readings is large and full of
// pointers, and allocating it anew for every batch would make the garbage collector the busiest
// part of the function.
type batch struct {
	readings []reading.Reading
	next     []int32 // next[i]: the same device's next reading after readings[i], or -1
	msg      []int32 // msg[i]: the index of readings[i]'s message in the batch
	notices  []Notice
	dev      alarm.Device // the device being evaluated (Reset for each)
	declared []float64    // lent to the decoder: the readings' declared values
}

var batches = sync.Pool{New: func() any { return new(batch) }}

func (b *batch) reset() {
	clear(b.readings)
	clear(b.notices)
	b.readings, b.next, b.msg, b.notices = b.readings[:0], b.next[:0], b.msg[:0], b.notices[:0]
	b.dev.Clear()
}

// Evaluate processes one batch. It returns an error only when the context is done; every other
// failure is reported in Outcome.Retry so that one device or one bad record never blocks the others.
func (s *Service) Evaluate(ctx context.Context, msgs []Message) (Outcome, error) {
	start := s.cfg.Now()
	st := Stats{Records: len(msgs), Rejected: map[reading.Reason]int{}, Alerts: map[AlertKey]int{}}
	var retry []string

	// 1. Decode; group valid readings by device, keeping arrival order. The readings may refer to
	// the messages' bytes (Alias): both live until the batch is done.
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		// Decoded without its catalog, a reading's declared metrics would be unknown fields (and
		// one carrying only those quarantined as no_metrics): the whole batch waits.
		s.log.ErrorContext(ctx, "reading the metrics catalog failed: the batch is retried", "err", err)
		return Outcome{Retry: allIDs(msgs), Stats: st, Verdicts: retriedVerdicts(s.cfg.Verdicts, len(msgs))}, ctx.Err()
	}
	dec := reading.Decoder{Alias: true, Catalog: cat}
	b := batches.Get().(*batch)
	defer func() { b.reset(); batches.Put(b) }()
	if cap(b.readings) < len(msgs) {
		// At least a reading a message: one allocation of that, not a slice grown (and copied)
		// a dozen times, when the pool has none as large (the first batch, or one after a GC
		// took the pool's).
		b.readings = make([]reading.Reading, 0, len(msgs))
		b.next, b.msg = make([]int32, 0, len(msgs)), make([]int32, 0, len(msgs))
	}
	if n := cat.Len() * len(msgs); n > 0 {
		// The declared values of a reading a message, in room kept from batch to batch.
		if cap(b.declared) < n {
			b.declared = make([]float64, 0, n)
		}
		dec.Lend(b.declared)
	}
	groups := map[string]*group{}
	var order []*group
	var rejected []lake.Rejected
	var rejectedIDs []string
	var verdicts []Verdict // all Retried until decided
	if s.cfg.Verdicts {
		verdicts = make([]Verdict, len(msgs))
		defer func() { // messages whose bad elements are not kept yet: retried
			for i := range verdicts {
				if verdicts[i].Kind == unkept {
					verdicts[i] = Verdict{}
				}
			}
		}()
	}
	var rejectedAt []int
	for i := range msgs {
		m := &msgs[i]
		opts := reading.Options{Arrival: m.Arrival, TopicDevice: m.TopicDevice}
		from := len(b.readings)
		var bad []reading.ElementRejection
		var err error
		// A message is one reading or a batch of them (DESIGN.md, "Batched messages"): its
		// readings are decoded into the batch's slice, each bad element rejected alone.
		b.readings, bad, err = dec.DecodeMessage(m.Data, opts, b.readings)
		if err != nil {
			var rej *reading.Rejection
			if !errors.As(err, &rej) {
				rej = &reading.Rejection{Reason: reading.MalformedJSON, Detail: err.Error()}
			}
			st.Rejected[rej.Reason]++
			rejected = append(rejected, rejectedRecord(m, rej, -1))
			rejectedIDs = append(rejectedIDs, m.ID)
			if verdicts != nil {
				verdicts[i] = Verdict{Kind: Rejected, Reason: rej.Reason}
				rejectedAt = append(rejectedAt, i)
			}
			continue
		}
		for _, e := range bad {
			st.Rejected[e.Reason]++
			rejected = append(rejected, rejectedRecord(m, &e.Rejection, e.Index))
		}
		if verdicts != nil && (len(bad) > 0 || len(b.readings)-from > 1) {
			ec := &ElementCounts{}
			for _, e := range bad {
				ec.Rejected = append(ec.Rejected, e.Reason)
			}
			verdicts[i].Elements = ec
		}
		if len(bad) > 0 {
			rejectedIDs = append(rejectedIDs, m.ID)
			if verdicts != nil {
				verdicts[i].Kind, verdicts[i].Reason = Rejected, bad[0].Reason // unless an element is applied
				rejectedAt = append(rejectedAt, i)
			}
		}
		for j := from; j < len(b.readings); j++ {
			idx := int32(j)
			r := &b.readings[j]
			st.Readings++
			b.next = append(b.next, -1)
			b.msg = append(b.msg, int32(i))
			g := groups[r.DeviceID]
			if g == nil {
				// The reading's id aliases the message (Alias): the group's, kept past the batch
				// (the cache, the alerts), is a copy.
				g = &group{id: strings.Clone(r.DeviceID), firstID: m.ID, first: idx}
				groups[g.id] = g
				order = append(order, g)
			} else {
				b.next[g.last] = idx
			}
			g.last = idx
			g.n++
		}
	}

	// 2. Quarantine. A failed write fails those records (retried); they never block valid ones.
	if len(rejected) > 0 {
		if err := s.quarantine.Put(ctx, source(&msgs[0]), rejected); err != nil {
			s.log.ErrorContext(ctx, "quarantine write failed", "records", len(rejected), "err", err)
			retry = append(retry, rejectedIDs...)
			for _, i := range rejectedAt {
				verdicts[i] = Verdict{Kind: unkept} // Retried: the record is not kept yet
			}
		}
	}

	// 3. Load each device: thresholds and metadata from the cache when fresh, state always fresh;
	// the silence check of these devices waits until their states are written (deviceLocks).
	ids := make([]string, len(order))
	for i, g := range order {
		ids[i] = g.id
	}
	release, err := s.devices.lock(ctx, ids)
	if err != nil {
		for _, g := range order {
			g.err = fmt.Errorf("waiting for device %s: %w", g.id, err)
		}
	} else {
		s.load(ctx, order, &st)
	}

	// 4. Evaluate each device's readings in order; its alerts are notices[g.from:g.to].
	var owners []*group
	for _, g := range order {
		if g.err != nil {
			continue
		}
		rules := g.rules
		d := &b.dev
		d.Reset(&g.dev.State.Alarm, g.id, rules, cat)
		g.from = len(b.notices)
		emit := func(a alert.Alert) { b.notices = append(b.notices, Notice{Alert: a, Device: g.dev.Info, Catalog: cat}) }
		silence := d.WatchesSilence()
		for i := g.first; i >= 0; i = b.next[i] {
			var o alarm.Outcome
			if silence {
				o = d.AdvanceAndApply(&b.readings[i], emit)
			} else {
				o = d.Apply(&b.readings[i], emit)
			}
			switch o {
			case alarm.Late:
				st.Late++
			case alarm.Duplicate:
				st.Duplicates++
			}
			if verdicts != nil {
				// A batch's verdict is its most telling element's: applied, else late, else
				// duplicate, else rejected; one whose bad elements are not kept yet is retried.
				v := &verdicts[b.msg[i]]
				if k := [...]VerdictKind{alarm.Applied: Applied, alarm.Late: Late, alarm.Duplicate: Duplicate}[o]; v.Kind != unkept && (v.Kind == Retried || v.Kind == Rejected || k < v.Kind) {
					v.Kind, v.Reason = k, ""
				}
				if ec := v.Elements; ec != nil {
					*[...]*int{alarm.Applied: &ec.Applied, alarm.Late: &ec.Late, alarm.Duplicate: &ec.Duplicate}[o]++
				}
			}
		}
		g.to = len(b.notices)
		for range g.to - g.from {
			owners = append(owners, g)
		}
		// A device nobody set thresholds for has no alarm state worth a write (Finish says).
		g.changed = d.Finish()
		g.dev.State.Due = indexedDue(d, rules)
		suppress(b.notices[g.from:], &g.dev)
		s.addEpisodes(b.notices[g.from:], &g.dev.State.Alarm, s.cfg.Now())
	}
	s.holdForQuietHours(ctx, b.notices)

	// 5. Publish. A device with any alert not accepted keeps its old state and is retried.
	if len(b.notices) > 0 {
		errs := s.publisher.Publish(ctx, b.notices)
		for i, err := range errs {
			if err != nil && owners[i].err == nil {
				owners[i].err = fmt.Errorf("publishing alert %s: %w", b.notices[i].Alert.AlertID, err)
			}
		}
		for i, err := range errs {
			if err == nil && owners[i].err != nil {
				st.PublishedUncommitted++ // went out, and its device is retried: it goes out again
			}
		}
	}

	// 6. Keep what quiet hours held for the users' digests, then record the state of the devices
	// that changed and published and kept everything.
	s.hold(ctx, b.notices, owners, &st)
	s.save(ctx, order, &st)
	if release != nil {
		release()
	}

	for _, g := range order {
		if g.err != nil {
			st.FailedDevices++
			retry = append(retry, g.firstID)
			for i := g.first; verdicts != nil && i >= 0; i = b.next[i] {
				verdicts[b.msg[i]] = Verdict{} // Retried: the device's state did not move
			}
			s.log.WarnContext(ctx, "device will be retried", "device_id", g.id, "readings", g.n, "err", g.err)
			continue
		}
		for _, n := range b.notices[g.from:g.to] {
			st.Alerts[AlertKey{n.Alert.Kind, n.Alert.Severity}]++
		}
	}
	st.FailedRecords = len(retry)
	st.Duration = s.cfg.Now().Sub(start)
	if s.observe != nil {
		s.observe(st)
	}
	return Outcome{Retry: retry, Stats: st, Verdicts: verdicts}, ctx.Err()
}

func source(m *Message) string {
	if m.Source != "" {
		return m.Source
	}
	return m.ID
}

// MaxQuarantineText is the longest message whose text a quarantine record repeats readably.
const MaxQuarantineText = 4096

func rejectedRecord(m *Message, rej *reading.Rejection, element int) lake.Rejected {
	out := lake.Rejected{
		Reason:      string(rej.Reason),
		Detail:      rej.Detail,
		ArrivalTime: m.Arrival.UTC(),
		TopicDevice: m.TopicDevice,
		Source:      source(m),
		DataBase64:  m.Data,
	}
	if len(m.Data) <= MaxQuarantineText && utf8.Valid(m.Data) {
		out.DataText = string(m.Data)
	}
	if element >= 0 {
		out.Element = &element
	}
	// The hours bronze files it under, for the rejections index (the index names lines: an
	// element rejected alone is not in it, or the line's other elements would go with it; the
	// lake's checks find every element reason but future_event_time on the line itself): none when
	// bronze leaves it out (it cannot be one line) or sends it to errors/ (no event_time Firehose
	// can read).
	if _, one := lake.BronzeLine(m.Data); one && element < 0 {
		out.BronzeHours = reading.PartitionHours(m.Data, nil)
	}
	return out
}

// load fills g.dev (or g.err) for every group.
func (s *Service) load(ctx context.Context, order []*group, st *Stats) {
	now := s.cfg.Now()
	var cachedIDs []string
	var cachedGroups []*group
	s.mu.Lock()
	for _, g := range order {
		if c, ok := s.cache[g.id]; ok && s.cfg.CacheTTL > 0 && now.Sub(c.at) < s.cfg.CacheTTL {
			g.dev.Info, g.rules, g.cached = c.info, c.rules, true
			cachedIDs = append(cachedIDs, g.id)
			cachedGroups = append(cachedGroups, g)
		}
	}
	s.mu.Unlock()
	st.DevicesCached = len(cachedIDs)
	st.DevicesLoaded = len(order) - len(cachedIDs)

	loads := newWorkers(s.cfg.LoadConcurrency) // errors stay per device, in g.err
	for _, g := range order {
		if g.cached {
			continue
		}
		loads.Go(func() {
			d, err := s.store.LoadDevice(ctx, g.id)
			if err != nil {
				g.err = fmt.Errorf("loading device %s: %w", g.id, err)
				return
			}
			g.dev = d
			if g.dev.Info.ID == "" {
				g.dev.Info.ID = g.id
			}
			at := now
			if !g.dev.RowsAsOf.IsZero() && g.dev.RowsAsOf.Before(now) {
				at = g.dev.RowsAsOf
			}
			g.rules = g.dev.InForce() // resolved once per cache fill, outside the service's lock
			s.mu.Lock()
			s.cache[g.id] = cached{rules: g.rules, info: g.dev.Info, at: at}
			s.mu.Unlock()
		})
	}
	if len(cachedIDs) > 0 {
		states, err := s.store.LoadStates(ctx, cachedIDs)
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

// save writes the state of every changed device that has no error: in one call to a
// StatesSaver, else in parallel.
func (s *Service) save(ctx context.Context, order []*group, st *Stats) {
	var mu sync.Mutex
	saved := func(g *group, v int64, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			g.err = fmt.Errorf("saving alarm state of %s: %w", g.id, err)
			st.PublishedUncommitted += g.to - g.from
			if errors.Is(err, ErrConflict) {
				st.StateConflicts++
				s.mu.Lock()
				delete(s.cache, g.id) // a conflict may mean the thresholds moved too
				s.mu.Unlock()
			}
			return
		}
		g.dev.State.Version = v
		st.StateWrites++
	}
	if ss, ok := s.store.(StatesSaver); ok {
		var groups []*group
		var writes []StateWrite
		for _, g := range order {
			if g.err == nil && g.changed {
				groups = append(groups, g)
				writes = append(writes, StateWrite{ID: g.id, State: g.dev.State})
			}
		}
		if len(writes) == 0 {
			return
		}
		versions, errs := ss.SaveStates(ctx, writes)
		for i, g := range groups {
			saved(g, versions[i], errs[i])
		}
		return
	}
	saves := newWorkers(s.cfg.LoadConcurrency) // errors stay per device, in g.err
	for _, g := range order {
		if g.err != nil || !g.changed {
			continue
		}
		saves.Go(func() {
			v, err := s.store.SaveState(ctx, g.id, g.dev.State)
			saved(g, v, err)
		})
	}
	saves.Wait()
}

// allIDs are the ids of every message of a batch.
func allIDs(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i := range msgs {
		out[i] = msgs[i].ID
	}
	return out
}

// retriedVerdicts are n Retried verdicts, when asked for.
func retriedVerdicts(asked bool, n int) []Verdict {
	if !asked {
		return nil
	}
	return make([]Verdict, n)
}

// workers runs functions (loads, saves, silence checks) up to a limit at once, each on a
// goroutine; with a limit of 1 on the caller's own, one after the other (a goroutine each would
// add its start and its stack's growth, a few percent of a batch, and nothing run beside it).
type workers struct {
	g      errgroup.Group
	inline bool
}

func newWorkers(limit int) *workers {
	w := &workers{inline: limit <= 1}
	w.g.SetLimit(limit)
	return w
}

// Go runs f: now, or on a goroutine once fewer than the limit run.
func (w *workers) Go(f func()) {
	if w.inline {
		f()
		return
	}
	w.g.Go(func() error { f(); return nil })
}

// Wait waits until every f has returned.
func (w *workers) Wait() { _ = w.g.Wait() } // every func returns nil: callers keep their errors
