// Package filestore is the evaluation service's Store on one machine: thresholds from a CSV file
// (read again when it changes), device metadata from an optional CSV file, and alarm state kept
// on disk so that a restart, or a crash, keeps open episodes: each batch's states are appended to
// a journal with one write and one fsync (package wal), and the journal is compacted into a
// snapshot now and then. (Stores written before the journal kept a JSON file per device; they
// are read, taken into the snapshot, and removed.)
//
// What it returns belongs to the caller (deep copies); its own copy of a state changes only in
// SaveState, so a batch whose publish failed leaves no trace here and its retry raises the same
// alerts again.
package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/local/wal"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Store implements evaluator.Store.
type Store struct {
	thresholdsPath, devicesPath, stateDir string
	log                                   *slog.Logger

	mem       evaluator.Tables // under mem.Mu, as is everything below
	modTime   time.Time
	devMod    time.Time    // the devices file's, as last read
	rules     *rulesFile   // the long rules file, when one is followed
	metrics   *metricsFile // the metrics catalog, when one is followed
	repair    bool         // open a damaged journal loudly (wal.Options.Repair)
	reloaded  int
	journal   *wal.Log
	snapBytes int64 // the size of the last snapshot
	compactAt int64 // the bytes appended since the snapshot that start a compaction (at least)
	sinceSnap int64 // bytes appended to the journal since the last snapshot
}

// The journal of states and its compaction.
const (
	journalDir      = "journal"
	snapshotFile    = "snapshot.json"
	snapshotReader  = "snapshot" // the journal's consumer: the snapshot covers what is below its checkpoint
	compactMinBytes = 32 << 20   // the journal is compacted past this, or twice the last snapshot
)

// journalRecord is one device's state in the journal: the stored alarm state (alarm.Record)
// under the device's id. Changing it changes what is stored: testdata/state-file.golden pins it,
// and testdata/formats/ holds every earlier format, which must still decode.
type journalRecord struct {
	ID    string       `json:"id"`
	State alarm.Record `json:"state"`
}

// snapshot is every device's state as of a journal offset.
type snapshot struct {
	Offset uint64                  `json:"offset"`
	States map[string]alarm.Record `json:"states"`
}

var _ evaluator.Store = (*Store)(nil)

// stateExt ends the name of a state file: <device_id>.state.json.
const stateExt = ".state.json"

// Open reads the thresholds (a bad file is an error), the devices file when given, and every
// saved state under stateDir.
func Open(thresholdsPath, devicesPath, stateDir string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{thresholdsPath: thresholdsPath, devicesPath: devicesPath, stateDir: stateDir, log: log,
		mem: evaluator.NewTables(), compactAt: compactMinBytes}
	for _, o := range opts {
		o(s)
	}
	if err := s.readThresholds(); err != nil {
		return nil, err
	}
	if devicesPath != "" {
		if err := s.readDevices(); err != nil {
			return nil, err
		}
	}
	legacy, err := s.readStates()
	if err != nil {
		return nil, err
	}
	if err := s.openJournal(); err != nil {
		return nil, err
	}
	if len(legacy) > 0 { // into the snapshot, then gone: the journal has them from now on
		if err := s.compactLocked(); err != nil {
			_ = s.journal.Close()
			return nil, err
		}
		for _, path := range legacy {
			if err := os.Remove(path); err != nil {
				_ = s.journal.Close()
				return nil, fmt.Errorf("removing the state file %s, now in the snapshot: %w", path, err)
			}
		}
	}
	return s, nil
}

// openJournal reads the snapshot and replays the journal after it.
func (s *Store) openJournal() error {
	var snap snapshot
	b, err := os.ReadFile(filepath.Join(s.stateDir, snapshotFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &snap); err != nil {
			// Written whole (fsynced, then renamed): unreadable means damaged, not torn.
			return fmt.Errorf("the alarm state snapshot %s is unreadable: %w", filepath.Join(s.stateDir, snapshotFile), err)
		}
		s.snapBytes = int64(len(b))
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("reading the alarm state snapshot: %w", err)
	}
	for id, f := range snap.States {
		s.mem.States[id] = fromRecord(f)
	}
	j, err := wal.Open(filepath.Join(s.stateDir, journalDir), wal.Options{SegmentBytes: s.compactAt / 4, // segments the snapshot frees
		Consumers: []string{snapshotReader}, MaxRecord: 16 << 20, Log: s.log, Repair: s.repair})
	if err != nil {
		return fmt.Errorf("opening the alarm state journal: %w", err)
	}
	from := max(snap.Offset, j.Checkpointed(snapshotReader))
	r := j.Reader(from)
	defer r.Close()
	for off := from; off < j.Next(); off++ {
		rec, err := r.Next(context.Background())
		if err != nil {
			_ = j.Close()
			return fmt.Errorf("replaying the alarm state journal: %w", err)
		}
		var jr journalRecord
		if err := json.Unmarshal(rec.Data, &jr); err != nil {
			_ = j.Close()
			return fmt.Errorf("replaying the alarm state journal at %d: %w", rec.Offset, err)
		}
		s.mem.States[jr.ID] = fromRecord(jr.State)
	}
	s.journal = j
	return nil
}

// compactLocked writes every state as the snapshot (durably) and lets the journal drop what it
// covers; s.mu is held, or the store not yet shared.
func (s *Store) compactLocked() error {
	snap := snapshot{Offset: s.journal.Next(), States: make(map[string]alarm.Record, len(s.mem.States))}
	for id, st := range s.mem.States {
		snap.States[id] = alarm.ToRecord(st.Alarm, st.Version)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encoding the alarm state snapshot: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(s.stateDir, snapshotFile), b, 0o644); err != nil {
		return fmt.Errorf("writing the alarm state snapshot: %w", err)
	}
	s.snapBytes, s.sinceSnap = int64(len(b)), 0
	return s.journal.Checkpoint(snapshotReader, snap.Offset)
}

// JournalStats are the counters of the state journal (its fsyncs, its bytes).
func (s *Store) JournalStats() wal.Stats { return s.journal.Stats() }

// Close closes the journal.
func (s *Store) Close() error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	return s.journal.Close()
}

// readFile reads the CSV file at path whole with parse, and says when it was last modified.
func readFile[T any](path string, parse func(io.Reader, string) (T, error)) (T, time.Time, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return zero, time.Time{}, err
	}
	rows, err := parse(f, path)
	return rows, fi.ModTime(), err
}

func (s *Store) readDevices() error {
	devs, mod, err := readFile(s.devicesPath, device.ParseCSV)
	if err != nil {
		return err
	}
	byID := make(map[string]device.Device, len(devs))
	for _, d := range devs {
		byID[d.ID] = d
	}
	s.mem.Devices, s.devMod = byID, mod
	return nil
}

// reloadDevices reads the devices file again if it changed (s.mem.Mu held): a device that moved
// takes its new location's rules at its next batch. A bad edit is refused (logged), and the
// devices in force stay.
func (s *Store) reloadDevices() {
	if s.devicesPath == "" {
		return
	}
	fi, err := os.Stat(s.devicesPath)
	if err != nil || fi.ModTime().Equal(s.devMod) {
		return
	}
	if err := s.readDevices(); err != nil {
		s.devMod = fi.ModTime()
		s.log.Error("devices file changed but is invalid: keeping the devices in force", "err", err)
		return
	}
	s.log.Info("devices reloaded", "file", s.devicesPath)
}

// readStates reads the state files of a store written before the journal, and returns their
// paths.
func (s *Store) readStates() ([]string, error) {
	if err := durable.MkdirAll(s.stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	entries, err := os.ReadDir(s.stateDir)
	if err != nil {
		return nil, fmt.Errorf("listing the state directory: %w", err)
	}
	var legacy []string
	for _, e := range entries {
		id, ok := deviceOf(e.Name())
		if !ok {
			continue
		}
		path := filepath.Join(s.stateDir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the alarm state %s: %w", e.Name(), err)
		}
		var f alarm.Record
		if err := json.Unmarshal(b, &f); err != nil {
			// A power cut can leave a file empty or cut short. The device starts afresh (its open
			// episodes are forgotten) rather than the whole pipeline refusing to start; the file
			// is kept beside for a person to look at.
			aside := path + ".unreadable-" + time.Now().UTC().Format("20060102T150405Z")
			if rerr := os.Rename(path, aside); rerr != nil {
				return nil, fmt.Errorf("the alarm state %s is unreadable (%v) and cannot be moved aside: %w", e.Name(), err, rerr)
			}
			s.log.Error("UNREADABLE ALARM STATE moved aside: the device starts with no open episode", "device_id", id, "file", aside, "err", err)
			continue
		}
		s.mem.States[id] = fromRecord(f)
		legacy = append(legacy, path)
	}
	return legacy, nil
}

func deviceOf(name string) (string, bool) {
	if len(name) <= len(stateExt) || name[len(name)-len(stateExt):] != stateExt {
		return "", false
	}
	id := name[:len(name)-len(stateExt)]
	return id, reading.ValidDeviceID(id)
}

func (s *Store) readThresholds() error {
	if s.thresholdsPath == "" { // rules only (UseRules)
		return nil
	}
	configs, mod, err := readFile(s.thresholdsPath, threshold.ParseCSV)
	if err != nil {
		return err
	}
	// Versions as `thresholds put` keeps them: an unchanged config keeps its version, a changed
	// one gets the next, a new one 1. (They count from 1 again when the run restarts.)
	prev := map[[2]string]threshold.Config{}
	for _, cs := range s.mem.Configs {
		for _, c := range cs {
			prev[[2]string{c.UserID, c.DeviceID}] = c
		}
	}
	byDevice := map[string][]threshold.Config{}
	for _, c := range configs {
		p, ok := prev[[2]string{c.UserID, c.DeviceID}]
		c.Version = threshold.NextVersion(c, p, ok)
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	s.mem.Configs, s.modTime = byDevice, mod
	return nil
}

// Reload reads the thresholds file again if it changed. A file that no longer validates, or
// that cannot be read, is refused whole (logged), and the thresholds in force stay.
func (s *Store) Reload() {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.reloadMetricsAndRules()
	s.reloadDevices()
	if s.thresholdsPath == "" {
		return
	}
	fi, err := os.Stat(s.thresholdsPath)
	if err != nil {
		s.log.Error("thresholds file unreadable: keeping the thresholds in force", "err", err)
		return
	}
	if fi.ModTime().Equal(s.modTime) {
		return
	}
	if err := s.readThresholds(); err != nil {
		s.modTime = fi.ModTime()
		s.log.Error("thresholds file changed but is invalid: keeping the thresholds in force", "err", err)
		return
	}
	s.reloaded++
	s.log.Info("thresholds reloaded", "file", s.thresholdsPath)
}

// LoadDevice implements evaluator.Store.
func (s *Store) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	return s.mem.LoadDevice(ctx, id)
}

// LoadStates implements evaluator.Store.
func (s *Store) LoadStates(ctx context.Context, ids []string) (map[string]evaluator.State, error) {
	return s.mem.LoadStates(ctx, ids)
}

// SaveState implements evaluator.Store: SaveStates of one.
func (s *Store) SaveState(ctx context.Context, id string, st evaluator.State) (int64, error) {
	v, errs := s.SaveStates(ctx, []evaluator.StateWrite{{ID: id, State: st}})
	return v[0], errs[0]
}

var _ evaluator.StatesSaver = (*Store)(nil)

// SaveStates implements evaluator.StatesSaver: each write conditional on its version, and those
// that pass appended to the journal together, with one write and one fsync, before any is in
// force.
func (s *Store) SaveStates(_ context.Context, writes []evaluator.StateWrite) ([]int64, []error) {
	versions, errs := make([]int64, len(writes)), make([]error, len(writes))
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	var recs [][]byte
	var took []int
	next := make([]evaluator.State, len(writes))
	for i, w := range writes {
		if !reading.ValidDeviceID(w.ID) {
			errs[i] = fmt.Errorf("saving alarm state: device id %q is not valid", w.ID)
			continue
		}
		if cur := s.mem.States[w.ID]; cur.Version != w.State.Version {
			errs[i] = fmt.Errorf("state of %s is at version %d, not %d: %w", w.ID, cur.Version, w.State.Version, evaluator.ErrConflict)
			continue
		}
		next[i] = w.State.Clone()
		next[i].Due = time.Time{} // one machine has no due index: the journal keeps none
		next[i].Version++
		b, err := appendRecord(nil, &journalRecord{ID: w.ID, State: alarm.ToRecord(next[i].Alarm, next[i].Version)})
		if err != nil {
			errs[i] = fmt.Errorf("encoding the alarm state of %s: %w", w.ID, err)
			continue
		}
		recs, took = append(recs, b), append(took, i)
	}
	if len(recs) == 0 {
		return versions, errs
	}
	if _, err := s.journal.AppendBatch(recs); err != nil {
		for _, i := range took {
			errs[i] = fmt.Errorf("writing the alarm state of %s: %w", writes[i].ID, err)
		}
		return versions, errs
	}
	for k, i := range took {
		s.mem.States[writes[i].ID] = next[i]
		versions[i] = next[i].Version
		s.sinceSnap += int64(len(recs[k]))
	}
	if s.sinceSnap > max(s.compactAt, 2*s.snapBytes) {
		if err := s.compactLocked(); err != nil {
			// The journal keeps everything: nothing is lost, it only grows until this works.
			s.log.Error("compacting the alarm state journal", "err", err)
		}
	}
	return versions, errs
}

// Due lists the devices whose silence or silence reminder is due by now, then the users whose
// digest is (as evaluator.HeldPrefix + user) (on one machine the store
// holds every state, so it looks at each: the AWS check uses an index of due times instead).
func (s *Store) Due(now time.Time) []string {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	var out []string
	for id, st := range s.mem.States {
		if !st.Alarm.HasLast {
			continue
		}
		dev := s.mem.DeviceLocked(id) // its wide configs and the rows that may apply, as LoadDevice gives them
		if !dev.Watched() {
			continue
		}
		if at, ok := alarm.NewRules(&dev.State.Alarm, id, dev.InForce(), s.mem.Metrics).NextDue(); ok && !at.After(now) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return append(out, s.digestsDue(now)...) // and the users whose digest is due
}

// Watermark is the latest event time applied over every device: the clock of a replay of old
// data (`iotwatch run --clock watermark`). false while no reading was applied.
func (s *Store) Watermark() (time.Time, bool) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	var last int64
	found := false
	for _, st := range s.mem.States {
		if st.Alarm.HasLast && (!found || st.Alarm.Last > last) {
			last, found = st.Alarm.Last, true
		}
	}
	return time.Unix(0, last).UTC(), found
}

// States returns a copy of every device's alarm state (the run's control API lists open
// episodes from it).
func (s *Store) States() map[string]evaluator.State {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	out := make(map[string]evaluator.State, len(s.mem.States))
	for id, st := range s.mem.States {
		st.Alarm = st.Alarm.Clone()
		out[id] = st
	}
	return out
}

// fromRecord is the state a stored record holds.
func fromRecord(r alarm.Record) evaluator.State {
	return evaluator.State{Alarm: alarm.FromRecord(r), Version: r.Version}
}

// An Option changes how Open opens the store.
type Option func(*Store)

// Repair opens a damaged state journal as wal.Options.Repair does (--repair-log), instead of
// refusing to start.
func Repair(on bool) Option { return func(s *Store) { s.repair = on } }
