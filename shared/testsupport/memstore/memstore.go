// Package memstore is an evaluation Store in memory, for benchmarks and tests that measure or
// exercise the service without I/O. It keeps the Store contract (shared/testsupport/storetest):
// what it returns is the caller's, and its own copy changes only in SaveState.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Store keeps thresholds, devices and states in maps.
type Store struct {
	mem   evaluator.Tables // under mem.Mu, as is everything below
	users map[string]user.User
	// UserLoads counts LoadUsers calls.
	UserLoads int
	held      map[string]map[string]alert.Alert // user -> alert id -> alert
	heldDue   map[string]time.Time
}

var (
	_ evaluator.Store = (*Store)(nil)
	_ evaluator.Users = (*Store)(nil)
	_ evaluator.Held  = (*Store)(nil)
)

// Hold implements evaluator.Held.
func (s *Store) Hold(_ context.Context, alerts []alert.Alert, due map[string]time.Time) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	if s.held == nil {
		s.held, s.heldDue = map[string]map[string]alert.Alert{}, map[string]time.Time{}
	}
	for _, a := range alerts {
		if s.held[a.UserID] == nil {
			s.held[a.UserID] = map[string]alert.Alert{}
		}
		s.held[a.UserID][a.AlertID] = a
	}
	for u, t := range due {
		if cur, ok := s.heldDue[u]; !ok || t.Before(cur) {
			s.heldDue[u] = t
		}
	}
	return nil
}

// Held implements evaluator.Held.
func (s *Store) Held(_ context.Context, user string) ([]alert.Alert, error) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	var out []alert.Alert
	for _, a := range s.held[user] {
		out = append(out, a)
	}
	return out, nil
}

// Release implements evaluator.Held.
func (s *Store) Release(_ context.Context, user string, ids []string, next time.Time) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	for _, id := range ids {
		delete(s.held[user], id)
	}
	if len(s.held[user]) == 0 {
		delete(s.held, user)
	}
	if next.IsZero() {
		delete(s.heldDue, user)
	} else {
		s.heldDue[user] = next
	}
	return nil
}

// DigestsDue lists the ids (evaluator.HeldPrefix + user) of the digests due by now.
func (s *Store) DigestsDue(now time.Time) []string {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	var out []string
	for u, t := range s.heldDue {
		if !t.After(now) {
			out = append(out, evaluator.HeldPrefix+u)
		}
	}
	slices.Sort(out)
	return out
}

// SetUsers replaces the users' preferences.
func (s *Store) SetUsers(users []user.User) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.users = map[string]user.User{}
	for _, u := range users {
		s.users[u.ID] = u
	}
}

// LoadUsers implements evaluator.Users.
func (s *Store) LoadUsers(_ context.Context, ids []string) (map[string]user.User, error) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.UserLoads++
	out := map[string]user.User{}
	for _, id := range ids {
		if u, ok := s.users[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

// New returns a store holding configs and devices, and no alarm state.
func New(configs []threshold.Config, devices []device.Device) *Store {
	s := &Store{mem: evaluator.NewTables()}
	for _, c := range configs {
		s.mem.Configs[c.DeviceID] = append(s.mem.Configs[c.DeviceID], c)
	}
	for _, d := range devices {
		s.mem.Devices[d.ID] = d
	}
	return s
}

// LoadDevice implements evaluator.Store.
func (s *Store) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	return s.mem.LoadDevice(ctx, id)
}

// LoadStates implements evaluator.Store.
func (s *Store) LoadStates(ctx context.Context, ids []string) (map[string]evaluator.State, error) {
	return s.mem.LoadStates(ctx, ids)
}

// SaveState implements evaluator.Store.
func (s *Store) SaveState(_ context.Context, id string, st evaluator.State) (int64, error) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	if cur := s.mem.States[id]; cur.Version != st.Version {
		return 0, fmt.Errorf("state of %s is at version %d, not %d: %w", id, cur.Version, st.Version, evaluator.ErrConflict)
	}
	next := st.Clone()
	next.Version++
	s.mem.States[id] = next
	return next.Version, nil
}

// SetConfigs replaces the thresholds of a device (nil deletes them), as `thresholds put` and
// `thresholds delete` do.
func (s *Store) SetConfigs(deviceID string, cfgs []threshold.Config) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.mem.Configs[deviceID] = slices.Clone(cfgs)
}

// Catalog implements evaluator.Store.
func (s *Store) Catalog(ctx context.Context) (*reading.Catalog, error) { return s.mem.Catalog(ctx) }

// SetCatalog replaces the metrics catalog (nil: the built-ins only).
func (s *Store) SetCatalog(c *reading.Catalog) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.mem.Metrics = c
}

// SetRules replaces the long form's rows, versioned as a store keeps them (storetest.RulesStore).
func (s *Store) SetRules(_ *testing.T, rows []rule.Row) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.mem.Rows = rule.Versioned(s.mem.Rows, rows)
}

// SetDevices replaces the devices' metadata (storetest.RulesStore).
func (s *Store) SetDevices(_ *testing.T, devs []device.Device) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.mem.Devices = map[string]device.Device{}
	for _, d := range devs {
		s.mem.Devices[d.ID] = d
	}
}
