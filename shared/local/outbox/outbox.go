// Package outbox is the one-machine run's notifier stage (issue 25): the alerts the run lands are
// routed to people's channels (shared/domain/channel) and written, before the publish returns, to
// a durable queue on disk, one directory a channel (DIR/notify/outbox/<kind>-<channel id>/);
// background workers, one a channel, deliver them in order with shared/service/notify, the
// senders the notify Lambda uses. So a channel that is slow or down never holds up the
// evaluation, the memory a down channel costs is one file of its queue, what is undelivered at a
// stop is delivered at the next start (at least once: receivers deduplicate by alert id), and
// what notify gives up on is a JSON file under DIR/notify-failed/ with the reason.
package outbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// The directories under the lake.
const (
	QueueDir  = "notify/outbox"
	FailedDir = "notify-failed"
)

// Config configures an Outbox.
type Config struct {
	// Lake is the run's directory: the queue is Lake/notify/outbox/, the dead letters
	// Lake/notify-failed/.
	Lake string
	// Channels is the channels CSV (re-read by Reload when it changes).
	Channels string
	// Notify configures the senders (timeouts, tries, backoff, PagerDutyURL, DeviceURL); its
	// DeadLetter is the Outbox's own directory when nil.
	Notify notify.Config
	// Units names metrics' units in the texts (nil: the built-ins').
	Units func(ctx context.Context) alert.Units
	Log   *slog.Logger
}

// Outbox queues alerts for people's channels on disk and delivers them in the background.
type Outbox struct {
	cfg      Config
	dir      string
	notifier *notify.Notifier
	dead     notify.DeadLetter
	log      *slog.Logger

	mu       sync.Mutex
	chans    []channel.Channel
	byID     map[string]channel.Channel
	modTime  time.Time
	warned   map[string]bool // email and SMS channels warned about, once each
	workers  map[string]*worker
	seq      uint64
	started  bool
	stopping bool
	ctx      context.Context // the workers'; cancelled when a stop's drain ends
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	queued   atomic.Int64 // deliveries on disk not yet done
	inFlight atomic.Int64 // deliveries being tried now
}

// worker delivers one channel's queue, in order, one at a time (PagerDuty's trigger before its
// resolve).
type worker struct {
	dir  string // its queue directory
	id   string // the channel's ID
	kind channel.Kind
	wake chan struct{}
}

// entry is one alert queued for a channel: what notify.Message needs, as JSON.
type entry struct {
	Alert          alert.Alert   `json:"alert"`
	Device         device.Device `json:"device"`
	EpisodeStartMs int64         `json:"episode_start_ms,omitempty"`
	AckLink        string        `json:"ack_link,omitempty"`
	SnoozeLink     string        `json:"snooze_link,omitempty"`
	Held           []alert.Alert `json:"held,omitempty"`
	// Units and Zone are how the alert's person reads texts (their preferences when it was
	// queued): metric or imperial, and an IANA zone ("" UTC).
	Units alert.UnitSystem `json:"units,omitempty"`
	Zone  string           `json:"zone,omitempty"`
}

// Open reads the channels file (refused whole, with its line and field, when invalid) and finds
// what earlier runs left in the queue; Start starts the deliveries.
func Open(cfg Config) (*Outbox, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{cfg: cfg, dir: filepath.Join(cfg.Lake, filepath.FromSlash(QueueDir)), log: cfg.Log,
		warned: map[string]bool{}, workers: map[string]*worker{}}
	chans, mod, err := readChannels(cfg.Channels)
	if err != nil {
		return nil, err
	}
	o.use(chans, mod)
	ncfg := cfg.Notify
	if ncfg.DeadLetter == nil {
		ncfg.DeadLetter = &DeadLetters{Dir: filepath.Join(cfg.Lake, FailedDir)}
	}
	if ncfg.Log == nil {
		ncfg.Log = cfg.Log
	}
	o.dead = ncfg.DeadLetter
	if o.notifier, err = notify.New(ncfg); err != nil {
		return nil, err
	}
	dirs, err := os.ReadDir(o.dir) // made by the first enqueue: a refused start leaves the lake as it was
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the notify queue: %w", err)
	}
	for _, d := range dirs {
		kind, id, ok := strings.Cut(d.Name(), "-")
		if !d.IsDir() || !ok {
			continue
		}
		w := o.worker(channel.Kind(kind), id)
		// a crash inside a write leaves its temporary file (durable.WriteFile's NAME.tmp): never a
		// queue file, so it goes
		if tmps, _ := filepath.Glob(filepath.Join(w.dir, "*.tmp")); len(tmps) > 0 {
			for _, t := range tmps {
				_ = os.Remove(t)
			}
		}
		files, err := w.files()
		if err != nil {
			return nil, err
		}
		// A crash inside keep leaves <seq>-<left> beside <seq>-<n>: the smaller is the truth.
		bySeq := map[uint64]string{}
		for _, f := range files {
			seq, n := parseName(f)
			if prev, ok := bySeq[seq]; ok {
				_, pn := parseName(prev)
				stale := f
				if n < pn { // prev was counted: count f instead
					stale, bySeq[seq] = prev, f
					o.queued.Add(int64(n - pn))
				}
				if err := os.Remove(filepath.Join(w.dir, stale)); err != nil {
					return nil, fmt.Errorf("notify queue: %w", err)
				}
				continue
			}
			bySeq[seq] = f
			o.seq = max(o.seq, seq)
			o.queued.Add(int64(n))
		}
		if err := durable.SyncDir(w.dir); err != nil && len(files) > 0 {
			return nil, err
		}
	}
	return o, nil
}

func readChannels(path string) ([]channel.Channel, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the channels: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the channels: %w", err)
	}
	chans, err := channel.ParseCSV(f, path)
	if err != nil {
		return nil, time.Time{}, err
	}
	return chans, fi.ModTime(), nil
}

// use puts chans in force; email and SMS channels are skipped (SNS, on AWS only), with one
// warning each.
func (o *Outbox) use(chans []channel.Channel, mod time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.chans, o.modTime = chans, mod
	o.byID = make(map[string]channel.Channel, len(chans))
	for _, c := range chans {
		o.byID[c.ID()] = c
		if (c.Kind == channel.Email || c.Kind == channel.SMS) && !o.warned[c.ID()] {
			o.warned[c.ID()] = true
			o.log.Warn("email and SMS channels are sent through SNS, on AWS only: this run skips it", "channel", c.ID(), "user", c.UserID, "kind", c.Kind)
		}
	}
}

// Reload reads the channels file again if it changed. An invalid edit is refused whole (logged
// with its line and field) and the channels in force are kept.
func (o *Outbox) Reload() {
	fi, err := os.Stat(o.cfg.Channels)
	if err != nil {
		o.log.Error("channels file unreadable: keeping the channels in force", "err", err)
		return
	}
	o.mu.Lock()
	same := fi.ModTime().Equal(o.modTime)
	o.mu.Unlock()
	if same {
		return
	}
	chans, mod, err := readChannels(o.cfg.Channels)
	if err != nil {
		o.mu.Lock()
		o.modTime = fi.ModTime() // said once, not at every tick
		o.mu.Unlock()
		o.log.Error("channels file changed but is invalid: keeping the channels in force", "err", err)
		return
	}
	o.use(chans, mod)
	o.log.Info("channels reloaded", "file", o.cfg.Channels, "channels", len(chans))
}

// Channels returns the channels in force.
func (o *Outbox) Channels() []channel.Channel {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.chans)
}

// worker returns the channel's worker, made (and started, when the Outbox is) if new (o.mu
// held, or before Start).
func (o *Outbox) worker(kind channel.Kind, id string) *worker {
	if w, ok := o.workers[id]; ok {
		return w
	}
	w := &worker{dir: filepath.Join(o.dir, string(kind)+"-"+id), id: id, kind: kind, wake: make(chan struct{}, 1)}
	o.workers[id] = w
	if o.started && !o.stopping {
		o.wg.Add(1)
		go o.run(w)
	}
	return w
}

// Start starts a worker for every channel with a queue; Stop ends them.
func (o *Outbox) Start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.started = true
	for _, w := range o.workers {
		o.wg.Add(1)
		go o.run(w)
	}
}

// Wrap returns a Publisher that publishes through next and then queues, for each alert next
// took, a delivery to each channel of its user that takes it (channel.Routes; DigestRoutes for
// a digest). The queue is written (fsynced) before Publish returns; an alert that could not be
// queued is an error of its notice, and the evaluation raises it again (it lands again: at
// least once, as everywhere).
func (o *Outbox) Wrap(next evaluator.Publisher) evaluator.Publisher {
	return publisher{next: next, o: o}
}

type publisher struct {
	next evaluator.Publisher
	o    *Outbox
}

func (p publisher) Publish(ctx context.Context, notices []evaluator.Notice) []error {
	errs := p.next.Publish(ctx, notices)
	return p.o.enqueue(notices, errs)
}

// enqueue writes one queue file for each channel that takes some of the notices (those whose
// errs entry is nil).
func (o *Outbox) enqueue(notices []evaluator.Notice, errs []error) []error {
	o.mu.Lock()
	chans := o.chans
	o.mu.Unlock()
	if len(chans) == 0 {
		return errs
	}
	type batch struct {
		c       channel.Channel
		buf     bytes.Buffer
		n       int
		notices []int
	}
	var order []string
	batches := map[string]*batch{}
	for i := range notices {
		if errs[i] != nil {
			continue
		}
		nt := &notices[i]
		for _, c := range channel.Of(chans, nt.Alert.UserID) {
			if c.Kind == channel.Email || c.Kind == channel.SMS {
				continue // SNS, on AWS only (warned once at load)
			}
			var takes bool
			if nt.Alert.Kind == alert.Digest && len(nt.Held) > 0 {
				takes = nt.Alert.Suppressed == "" && channel.DigestRoutes(nt.Held, &c)
			} else {
				takes = channel.Routes(&nt.Alert, &c)
			}
			if !takes {
				continue
			}
			id := c.ID()
			b := batches[id]
			if b == nil {
				b = &batch{c: c}
				batches[id] = b
				order = append(order, id)
			}
			e := entry{Alert: nt.Alert, Device: nt.Device, EpisodeStartMs: nt.EpisodeStartMs,
				AckLink: nt.AckLink, SnoozeLink: nt.SnoozeLink, Held: nt.Held}
			if r := nt.Presentation(); r.Zone != nil || r.Units != "" {
				e.Units = r.Units
				if r.Zone != nil && r.Zone != time.UTC {
					e.Zone = r.Zone.String()
				}
			}
			line, err := json.Marshal(e)
			if err != nil {
				errs[i] = fmt.Errorf("queueing alert %s for channel %s: %w", nt.Alert.AlertID, id, err)
				continue
			}
			b.buf.Write(line)
			b.buf.WriteByte('\n')
			b.n++
			b.notices = append(b.notices, i)
		}
	}
	for _, id := range order {
		b := batches[id]
		o.mu.Lock()
		o.seq++
		seq := o.seq
		w := o.worker(b.c.Kind, id)
		o.mu.Unlock()
		err := durable.MkdirAll(w.dir, 0o755)
		if err == nil {
			err = durable.WriteFile(filepath.Join(w.dir, fileName(seq, b.n)), b.buf.Bytes(), 0o600) // targets are not in it, links are
		}
		if err != nil {
			for _, i := range b.notices {
				errs[i] = fmt.Errorf("queueing alert %s for channel %s: %w", notices[i].Alert.AlertID, id, err)
			}
			continue
		}
		o.queued.Add(int64(b.n))
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return errs
}

// fileName names a queue file by its sequence number (the order of delivery) and its count of
// deliveries (the queue's length is known at a start without reading the files).
func fileName(seq uint64, n int) string { return fmt.Sprintf("%020d-%d.jsonl", seq, n) }

func parseName(name string) (seq uint64, n int) {
	s, c, _ := strings.Cut(strings.TrimSuffix(name, ".jsonl"), "-")
	seq, _ = strconv.ParseUint(s, 10, 64)
	n, _ = strconv.Atoi(c)
	return seq, n
}

// files lists the worker's queue files, oldest first.
func (w *worker) files() ([]string, error) {
	des, err := os.ReadDir(w.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the notify queue: %w", err)
	}
	var out []string
	for _, d := range des {
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".jsonl") && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, d.Name())
		}
	}
	slices.Sort(out) // the names' sequence numbers are zero-padded
	return out, nil
}

// run delivers the worker's queue, file by file, until the stop: while stopping it ends once its
// queue is empty, and at once when the drain's context ends (what is left stays on disk).
func (o *Outbox) run(w *worker) {
	defer o.wg.Done()
	for {
		files, err := w.files()
		if err != nil {
			o.log.Error("notify queue unreadable: trying again", "channel", w.id, "err", err)
		}
		for _, f := range files {
			goOn, readFailed := o.deliverFile(w, f)
			if !goOn {
				return
			}
			if readFailed {
				break // the files after it wait for it: a channel's deliveries keep their order
			}
		}
		if err == nil && len(files) > 0 {
			continue // more may have come meanwhile
		}
		o.mu.Lock()
		stopping := o.stopping
		o.mu.Unlock()
		if stopping && err == nil {
			return
		}
		select {
		case <-o.ctx.Done():
			return
		case <-w.wake:
		case <-time.After(time.Second): // a failed read, or a wake lost to a race with the stop
		}
	}
}

// deliverFile delivers one queue file's entries in order and removes it; goOn is false when the
// stop ended the deliveries (the undone entries are written back), readFailed true when the file
// could not be read (it is tried again, before any later file, after a pause).
func (o *Outbox) deliverFile(w *worker, name string) (goOn, readFailed bool) {
	path := filepath.Join(w.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		o.log.Error("notify queue file unreadable: trying again in a second", "file", path, "err", err)
		return o.pause(), true
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, slices.Clone(sc.Bytes()))
		}
	}
	_, counted := parseName(name)
	for i, line := range lines {
		if o.ctx.Err() != nil {
			return o.keep(w, path, lines[i:], counted), false
		}
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			// Not an alert any more (the file is written whole, so only a hand edit does this):
			// kept aside for a person, never retried.
			aside := filepath.Join(o.cfg.Lake, FailedDir, fmt.Sprintf("unreadable-%s-%d.jsonl", strings.TrimSuffix(name, ".jsonl"), i+1))
			err := durable.MkdirAll(filepath.Dir(aside), 0o750)
			if err == nil {
				err = durable.WriteFile(aside, line, 0o600)
			}
			if err != nil {
				// not set aside: the file stays, tried again after a pause (nothing is dropped)
				o.log.Error("notify queue entry unreadable, and setting it aside failed: the file is kept", "file", path, "line", i+1, "err", err)
				o.keep(w, path, lines[i:], counted)
				return o.pause(), true
			}
			o.log.Error("notify queue entry unreadable: set aside", "file", path, "line", i+1, "aside", aside, "err", err)
			continue
		}
		if !o.deliver(w, &e) {
			return o.keep(w, path, lines[i:], counted), false
		}
	}
	if err := os.Remove(path); err != nil {
		o.log.Error("notify queue: a delivered file could not be removed (its alerts will be sent again)", "file", path, "err", err)
	}
	_ = durable.SyncDir(w.dir)
	o.queued.Add(-int64(counted))
	return true, false
}

// keep writes back the undone lines of a queue file (at a stop, or when an unreadable line could
// not be set aside), under the name of what it holds now; it returns false.
func (o *Outbox) keep(w *worker, path string, left [][]byte, counted int) bool {
	if len(left) < counted {
		dir, name := filepath.Split(path)
		seq, _ := parseName(name)
		np := filepath.Join(dir, fileName(seq, len(left)))
		if err := durable.WriteFile(np, append(bytes.Join(left, []byte("\n")), '\n'), 0o600); err == nil {
			if np != path {
				_ = os.Remove(path)
				_ = durable.SyncDir(dir)
			}
			o.queued.Add(-int64(counted - len(left)))
		} else {
			o.log.Error("notify queue: could not note what was delivered (it will be sent again)", "file", path, "err", err)
		}
	}
	return false
}

// deliver sends one entry to its channel, again and again while it is neither delivered nor
// dead-lettered (a dead letter that cannot be written); false when the stop came first (the
// entry stays in the queue).
func (o *Outbox) deliver(w *worker, e *entry) bool {
	for {
		err := o.deliverOnce(w, e)
		if err == nil {
			return true
		}
		if o.ctx.Err() != nil {
			return false
		}
		o.log.Error("notify: neither delivered nor kept as a dead letter; trying again in a second", "channel", w.id, "alert", e.Alert.AlertID, "err", err)
		if !o.pause() {
			return false
		}
	}
}

func (o *Outbox) deliverOnce(w *worker, e *entry) error {
	o.mu.Lock()
	c, ok := o.byID[w.id]
	o.mu.Unlock()
	if !ok {
		// The channel left the channels file: what was queued for it is kept as a dead letter.
		f := notify.Failed{ChannelID: w.id, UserID: e.Alert.UserID, Kind: w.kind, Target: "***", Alert: e.Alert,
			EpisodeStartMs: e.EpisodeStartMs, At: time.Now().UTC()}
		return o.dead.Put(o.ctx, f, "channel removed from the channels file")
	}
	m := notify.Message{Alert: e.Alert, Device: e.Device, EpisodeStartMs: e.EpisodeStartMs, AckLink: e.AckLink,
		SnoozeLink: e.SnoozeLink, Held: e.Held}
	if m.Device.ID == "" {
		m.Device.ID = e.Alert.DeviceID
	}
	m.Reader.Units = e.Units
	if e.Zone != "" {
		if z, err := time.LoadLocation(e.Zone); err == nil {
			m.Reader.Zone = z
		}
	}
	if o.cfg.Units != nil {
		m.Reader.Catalog = o.cfg.Units(o.ctx)
	}
	o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	_, err := o.notifier.Deliver(o.ctx, c, m)
	return err
}

// pause waits a second; false when the stop came first.
func (o *Outbox) pause() bool {
	select {
	case <-o.ctx.Done():
		return false
	case <-time.After(time.Second):
		return true
	}
}

// Stats are the Outbox's counters.
type Stats struct {
	Counts   map[channel.Kind]notify.Counts
	Queued   int64 // deliveries waiting on disk, those in flight included
	InFlight int64 // deliveries being tried
}

// Stats returns the counters now.
func (o *Outbox) Stats() Stats {
	return Stats{Counts: o.notifier.Counts(), Queued: o.queued.Load(), InFlight: o.inFlight.Load()}
}

// Stop lets the workers deliver what is queued for at most drain (printing progress every
// second to progress, when not nil), then ends them; abort ends them at once. What is left
// stays on disk for the next start. It returns the deliveries left.
func (o *Outbox) Stop(drain time.Duration, progress io.Writer, abort <-chan struct{}) int64 {
	o.mu.Lock()
	if !o.started {
		o.mu.Unlock()
		return o.queued.Load()
	}
	o.stopping = true
	for _, w := range o.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	until := time.Now().Add(drain)
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-deadline.C:
			break wait
		case <-abort:
			break wait
		case now := <-tick.C:
			if progress != nil {
				fmt.Fprintf(progress, "%s  notify: %d deliveries in flight, %d queued (at most %s more; Ctrl-C again stops now, the rest is kept)\n",
					now.Format("15:04:05"), o.inFlight.Load(), o.queued.Load(), max(until.Sub(now), 0).Round(time.Second))
			}
		}
	}
	inFlight := o.inFlight.Load()
	o.cancel()
	<-done
	left := o.queued.Load()
	if progress != nil && left > 0 {
		fmt.Fprintf(progress, "notify: %d deliveries in flight, %d queued: kept for the next start\n", inFlight, left)
	}
	return left
}
