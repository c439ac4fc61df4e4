// Package filestore is the evaluate handler's Store on one machine: thresholds from a CSV file
// (read again when it changes), device metadata from an optional CSV file, and alarm state kept
// on disk, one JSON file per device, so that a restart keeps open episodes.
package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Store implements evaluator.Store.
type Store struct {
	thresholdsPath, devicesPath, stateDir string
	log                                   *slog.Logger

	mu       sync.Mutex
	configs  map[string][]threshold.Config
	devices  map[string]device.Device
	modTime  time.Time
	states   map[string]alarm.DeviceState
	reloaded int
}

var _ evaluator.Store = (*Store)(nil)

// Open reads the thresholds (a bad file is an error), the devices file when given, and every
// saved state under stateDir.
func Open(thresholdsPath, devicesPath, stateDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{thresholdsPath: thresholdsPath, devicesPath: devicesPath, stateDir: stateDir, log: log,
		devices: map[string]device.Device{}, states: map[string]alarm.DeviceState{}}
	if err := s.readThresholds(); err != nil {
		return nil, err
	}
	if devicesPath != "" {
		f, err := os.Open(devicesPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		devs, err := device.ParseCSV(f, devicesPath)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			s.devices[d.ID] = d
		}
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		id, ok := stateFile(e.Name())
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(stateDir, e.Name()))
		if err != nil {
			return nil, err
		}
		var st alarm.DeviceState
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("reading the alarm state %s: %w", e.Name(), err)
		}
		s.states[id] = st
	}
	return s, nil
}

func stateFile(name string) (string, bool) {
	const ext = ".state.json"
	if len(name) <= len(ext) || name[len(name)-len(ext):] != ext {
		return "", false
	}
	id := name[:len(name)-len(ext)]
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
	byDevice := map[string][]threshold.Config{}
	for _, c := range configs {
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	s.configs, s.modTime = byDevice, fi.ModTime()
	return nil
}

// Reload reads the thresholds file again if it changed. A file that no longer validates is
// refused whole (logged), and the thresholds in force stay.
func (s *Store) Reload() {
	fi, err := os.Stat(s.thresholdsPath)
	if err != nil {
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
	d := evaluator.Device{Configs: s.configs[id], Info: s.devices[id], State: s.states[id]}
	if d.Info.ID == "" {
		d.Info.ID = id
	}
	return d, nil
}

// LoadStates implements evaluator.Store.
func (s *Store) LoadStates(_ context.Context, ids []string) (map[string]alarm.DeviceState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]alarm.DeviceState, len(ids))
	for _, id := range ids {
		out[id] = s.states[id]
	}
	return out, nil
}

// SaveState implements evaluator.Store: conditional on the version, written to disk atomically.
func (s *Store) SaveState(_ context.Context, id string, st *alarm.DeviceState) error {
	if !reading.ValidDeviceID(id) {
		return fmt.Errorf("device id %q", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.states[id]; cur.Version != st.Version {
		return fmt.Errorf("state of %s is at version %d, not %d: %w", id, cur.Version, st.Version, evaluator.ErrConflict)
	}
	next := *st
	next.Version++
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	path := filepath.Join(s.stateDir, id+".state.json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("writing the alarm state of %s: %w", id, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return errors.Join(fmt.Errorf("writing the alarm state of %s", id), err)
	}
	s.states[id] = next
	st.Version = next.Version
	return nil
}
