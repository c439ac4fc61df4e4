// Package filestore is the evaluation service's Store on one machine: thresholds from a CSV file
// (read again when it changes), device metadata from an optional CSV file, and alarm state kept
// on disk, one JSON file per device, so that a restart keeps open episodes.
//
// What it returns belongs to the caller (deep copies); its own copy of a state changes only in
// SaveState, so a batch whose publish failed leaves no trace here and its retry raises the same
// alerts again.
package filestore

import (
	"context"
	"encoding/json"
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
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Store implements evaluator.Store.
type Store struct {
	thresholdsPath, devicesPath, stateDir string
	log                                   *slog.Logger

	mu       sync.Mutex
	configs  map[string][]threshold.Config
	devices  map[string]device.Device
	modTime  time.Time
	states   map[string]evaluator.State
	reloaded int
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
		devices: map[string]device.Device{}, states: map[string]evaluator.State{}}
	if err := s.readThresholds(); err != nil {
		return nil, err
	}
	if devicesPath != "" {
		if err := s.readDevices(); err != nil {
			return nil, err
		}
	}
	if err := s.readStates(); err != nil {
		return nil, err
	}
	return s, nil
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

func (s *Store) readStates() error {
	if err := os.MkdirAll(s.stateDir, 0o755); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	entries, err := os.ReadDir(s.stateDir)
	if err != nil {
		return fmt.Errorf("listing the state directory: %w", err)
	}
	for _, e := range entries {
		id, ok := deviceOf(e.Name())
		if !ok {
			continue
		}
		path := filepath.Join(s.stateDir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading the alarm state %s: %w", e.Name(), err)
		}
		var f stateFile
		if err := json.Unmarshal(b, &f); err != nil {
			// A power cut can leave a file empty or cut short. The device starts afresh (its open
			// episodes are forgotten) rather than the whole pipeline refusing to start; the file
			// is kept beside for a person to look at.
			aside := path + ".unreadable-" + time.Now().UTC().Format("20060102T150405Z")
			if rerr := os.Rename(path, aside); rerr != nil {
				return fmt.Errorf("the alarm state %s is unreadable (%v) and cannot be moved aside: %w", e.Name(), err, rerr)
			}
			s.log.Error("UNREADABLE ALARM STATE moved aside: the device starts with no open episode", "device_id", id, "file", aside, "err", err)
			continue
		}
		s.states[id] = f.state()
	}
	return nil
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

// SaveState implements evaluator.Store: conditional on the version, and written to disk
// atomically (a temporary file renamed over the old one). It does not fsync: an fsync per device
// and batch cost a quarter of the local pipeline's throughput (BenchmarkLocalPipeline), so
// durability across a power cut needs a group commit, not this.
func (s *Store) SaveState(_ context.Context, id string, st evaluator.State) (int64, error) {
	if !reading.ValidDeviceID(id) {
		return 0, fmt.Errorf("saving alarm state: device id %q is not valid", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.states[id]; cur.Version != st.Version {
		return 0, fmt.Errorf("state of %s is at version %d, not %d: %w", id, cur.Version, st.Version, evaluator.ErrConflict)
	}
	next := clone(st)
	next.Version++
	b, err := json.Marshal(toFile(next))
	if err != nil {
		return 0, fmt.Errorf("encoding the alarm state of %s: %w", id, err)
	}
	if err := writeFileAtomic(filepath.Join(s.stateDir, id+stateExt), b); err != nil {
		return 0, fmt.Errorf("writing the alarm state of %s: %w", id, err)
	}
	s.states[id] = next
	return next.Version, nil
}

// writeFileAtomic replaces path with data atomically: a reader, or a restart after the process
// died, sees the old content or the new, never a part (a power cut can still leave a file cut
// short: nothing is fsynced, and readStates moves such a file aside), and a failed write leaves
// no temporary file behind.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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
