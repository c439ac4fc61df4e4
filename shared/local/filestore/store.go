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
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
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

	mu        sync.Mutex
	configs   map[string][]threshold.Config
	devices   map[string]device.Device
	modTime   time.Time
	states    map[string]evaluator.State
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

// journalRecord is one device's state in the journal. Changing it changes what is stored:
// testdata/state-file.golden pins it.
type journalRecord struct {
	ID    string    `json:"id"`
	State stateFile `json:"state"`
}

// snapshot is every device's state as of a journal offset.
type snapshot struct {
	Offset uint64               `json:"offset"`
	States map[string]stateFile `json:"states"`
}

var _ evaluator.Store = (*Store)(nil)

// stateExt ends the name of a state file: <device_id>.state.json.
const stateExt = ".state.json"

// stateFile is the shape of a state file. Changing it changes what is stored:
// testdata/state-file.golden pins it.
type stateFile struct {
	Last    int64                `json:"last,omitempty"`
	HasLast bool                 `json:"has_last,omitempty"`
	Recent  []string             `json:"recent,omitempty"`
	Rules   map[string]ruleState `json:"rules,omitempty"`
	Temp    *tempState           `json:"temp,omitempty"`
	Snoozes []snoozeState        `json:"snz,omitempty"`
	Used    []usedLinkState      `json:"ul,omitempty"`
	Version int64                `json:"version,omitempty"`
}

// tempState is alarm.TempStats: the anomaly rule's mean and variance, the stuck run.
type tempState struct {
	N          int64   `json:"n,omitempty"`
	Mean       float64 `json:"m,omitempty"`
	Var        float64 `json:"v,omitempty"`
	StuckValue float64 `json:"sv,omitempty"`
	StuckStart int64   `json:"ss,omitempty"`
	StuckLast  int64   `json:"sl,omitempty"`
	HasStuck   bool    `json:"s,omitempty"`
}

// usedLinkState is alarm.UsedLink.
type usedLinkState struct {
	Code  string `json:"c"`
	Until int64  `json:"t"`
}

// snoozeState is alarm.Snooze.
type snoozeState struct {
	User  string `json:"u"`
	Rule  string `json:"r,omitempty"`
	Until int64  `json:"t"`
	Token string `json:"k,omitempty"`
}

type ruleState struct {
	Flags     uint8  `json:"f,omitempty"`
	LastAt    int64  `json:"l,omitempty"`
	WarnRun   int64  `json:"w,omitempty"`
	ViolRun   int64  `json:"v,omitempty"`
	Open      uint8  `json:"o,omitempty"`
	OpenStart int64  `json:"os,omitempty"`
	Notice    int64  `json:"n,omitempty"`
	OpenID    string `json:"oi,omitempty"`
	NoticeID  string `json:"ni,omitempty"`
}

func toFile(st evaluator.State) stateFile {
	f := stateFile{Last: st.Alarm.Last, HasLast: st.Alarm.HasLast, Recent: st.Alarm.Recent, Version: st.Version}
	if tp := st.Alarm.Temp; tp != (alarm.TempStats{}) {
		f.Temp = &tempState{tp.N, tp.Mean, tp.Var, tp.StuckValue, tp.StuckStart, tp.StuckLast, tp.HasStuck}
	}
	for _, z := range st.Alarm.Snoozes {
		f.Snoozes = append(f.Snoozes, snoozeState{z.User, z.Rule, z.Until, z.Token})
	}
	for _, u := range st.Alarm.UsedLinks {
		f.Used = append(f.Used, usedLinkState{u.Code, u.Until})
	}
	if len(st.Alarm.Rules) > 0 {
		f.Rules = make(map[string]ruleState, len(st.Alarm.Rules))
		for k, r := range st.Alarm.Rules {
			f.Rules[k] = ruleState{r.Flags, r.LastAt, r.WarnRun, r.ViolRun, uint8(r.Open), r.OpenStart, r.LastNotice, r.OpenID, r.NoticeID}
		}
	}
	return f
}

func (f stateFile) state() evaluator.State {
	st := evaluator.State{Alarm: alarm.DeviceState{Last: f.Last, HasLast: f.HasLast, Recent: f.Recent}, Version: f.Version}
	if tp := f.Temp; tp != nil {
		st.Alarm.Temp = alarm.TempStats{N: tp.N, Mean: tp.Mean, Var: tp.Var, StuckValue: tp.StuckValue, StuckStart: tp.StuckStart, StuckLast: tp.StuckLast, HasStuck: tp.HasStuck}
	}
	for _, z := range f.Snoozes {
		st.Alarm.Snoozes = append(st.Alarm.Snoozes, alarm.Snooze{User: z.User, Rule: z.Rule, Until: z.Until, Token: z.Token})
	}
	for _, u := range f.Used {
		st.Alarm.UsedLinks = append(st.Alarm.UsedLinks, alarm.UsedLink{Code: u.Code, Until: u.Until})
	}
	if len(f.Rules) > 0 {
		st.Alarm.Rules = make(map[string]*alarm.RuleState, len(f.Rules))
		for k, r := range f.Rules {
			st.Alarm.Rules[k] = &alarm.RuleState{Flags: r.Flags, LastAt: r.LastAt, WarnRun: r.WarnRun, ViolRun: r.ViolRun,
				Open: alarm.Level(r.Open), OpenStart: r.OpenStart, LastNotice: r.Notice, OpenID: r.OpenID, NoticeID: r.NoticeID}
		}
	}
	return st
}

// Open reads the thresholds (a bad file is an error), the devices file when given, and every
// saved state under stateDir.
func Open(thresholdsPath, devicesPath, stateDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{thresholdsPath: thresholdsPath, devicesPath: devicesPath, stateDir: stateDir, log: log,
		devices: map[string]device.Device{}, states: map[string]evaluator.State{}, compactAt: compactMinBytes}
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
		s.states[id] = f.state()
	}
	j, err := wal.Open(filepath.Join(s.stateDir, journalDir), wal.Options{SegmentBytes: s.compactAt / 4, // segments the snapshot frees
		Consumers: []string{snapshotReader}, MaxRecord: 16 << 20, Log: s.log})
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
		s.states[jr.ID] = jr.State.state()
	}
	s.journal = j
	return nil
}

// compactLocked writes every state as the snapshot (durably) and lets the journal drop what it
// covers; s.mu is held, or the store not yet shared.
func (s *Store) compactLocked() error {
	snap := snapshot{Offset: s.journal.Next(), States: make(map[string]stateFile, len(s.states))}
	for id, st := range s.states {
		snap.States[id] = toFile(st)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Close()
}

func (s *Store) readDevices() error {
	f, err := os.Open(s.devicesPath)
	if err != nil {
		return err
	}
	defer f.Close()
	devs, err := device.ParseCSV(f, s.devicesPath)
	if err != nil {
		return err
	}
	for _, d := range devs {
		s.devices[d.ID] = d
	}
	return nil
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
		var f stateFile
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
		s.states[id] = f.state()
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
	f, err := os.Open(s.thresholdsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	configs, err := threshold.ParseCSV(f, s.thresholdsPath)
	if err != nil {
		return err
	}
	// Versions as `thresholds put` keeps them: an unchanged config keeps its version, a changed
	// one gets the next, a new one 1. (They count from 1 again when the run restarts.)
	prev := map[[2]string]threshold.Config{}
	for _, cs := range s.configs {
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
	s.configs, s.modTime = byDevice, fi.ModTime()
	return nil
}

// Reload reads the thresholds file again if it changed. A file that no longer validates, or
// that cannot be read, is refused whole (logged), and the thresholds in force stay.
func (s *Store) Reload() {
	fi, err := os.Stat(s.thresholdsPath)
	if err != nil {
		s.log.Error("thresholds file unreadable: keeping the thresholds in force", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
func (s *Store) LoadDevice(_ context.Context, id string) (evaluator.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := evaluator.Device{Configs: slices.Clone(s.configs[id]), Info: s.devices[id], State: clone(s.states[id])}
	if d.Info.ID == "" {
		d.Info.ID = id
	}
	return d, nil
}

// LoadStates implements evaluator.Store.
func (s *Store) LoadStates(_ context.Context, ids []string) (map[string]evaluator.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]evaluator.State, len(ids))
	for _, id := range ids {
		out[id] = clone(s.states[id])
	}
	return out, nil
}

func clone(st evaluator.State) evaluator.State {
	return evaluator.State{Alarm: st.Alarm.Clone(), Version: st.Version}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs [][]byte
	var took []int
	next := make([]evaluator.State, len(writes))
	for i, w := range writes {
		if !reading.ValidDeviceID(w.ID) {
			errs[i] = fmt.Errorf("saving alarm state: device id %q is not valid", w.ID)
			continue
		}
		if cur := s.states[w.ID]; cur.Version != w.State.Version {
			errs[i] = fmt.Errorf("state of %s is at version %d, not %d: %w", w.ID, cur.Version, w.State.Version, evaluator.ErrConflict)
			continue
		}
		next[i] = clone(w.State)
		next[i].Version++
		b, err := appendRecord(nil, &journalRecord{ID: w.ID, State: toFile(next[i])})
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
		s.states[writes[i].ID] = next[i]
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, st := range s.states {
		cfgs := s.configs[id]
		if len(cfgs) == 0 || !st.Alarm.HasLast {
			continue
		}
		alarmState := st.Alarm.Clone()
		if at, ok := alarm.NewDevice(&alarmState, cfgs).NextDue(); ok && !at.After(now) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return append(out, s.digestsDue(now)...) // and the users whose digest is due
}

// Watermark is the latest event time applied over every device: the clock of a replay of old
// data (`iotwatch run --clock watermark`). false while no reading was applied.
func (s *Store) Watermark() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last int64
	found := false
	for _, st := range s.states {
		if st.Alarm.HasLast && (!found || st.Alarm.Last > last) {
			last, found = st.Alarm.Last, true
		}
	}
	return time.Unix(0, last).UTC(), found
}

// States returns a copy of every device's alarm state (the run's control API lists open
// episodes from it).
func (s *Store) States() map[string]evaluator.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]evaluator.State, len(s.states))
	for id, st := range s.states {
		st.Alarm = st.Alarm.Clone()
		out[id] = st
	}
	return out
}
