package filestore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// The alerts held for a user's digest: one file a user under <state>/held/, written atomically.
type heldFile struct {
	DueMs  int64         `json:"due_ms"`
	Alerts []alert.Alert `json:"alerts"`
}

const heldDir = "held"

var _ evaluator.Held = (*Store)(nil)

func (s *Store) heldPath(user string) string {
	// A user id may hold any printable character: the file is named by its hex.
	return filepath.Join(s.stateDir, heldDir, fmt.Sprintf("%x.json", user))
}

func (s *Store) readHeld(user string) (heldFile, error) {
	var f heldFile
	b, err := os.ReadFile(s.heldPath(user))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(b, &f)
}

func (s *Store) writeHeld(user string, f heldFile) error {
	if len(f.Alerts) == 0 {
		if err := os.Remove(s.heldPath(user)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := durable.MkdirAll(filepath.Join(s.stateDir, heldDir), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return durable.WriteFile(s.heldPath(user), b, 0o644)
}

// Hold implements evaluator.Held.
func (s *Store) Hold(_ context.Context, alerts []alert.Alert, due map[string]time.Time) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	byUser := map[string][]alert.Alert{}
	for _, a := range alerts {
		byUser[a.UserID] = append(byUser[a.UserID], a)
	}
	for user, as := range byUser {
		f, err := s.readHeld(user)
		if err != nil {
			return fmt.Errorf("reading the alerts held for %s: %w", user, err)
		}
		have := map[string]bool{}
		for _, a := range f.Alerts {
			have[a.AlertID] = true
		}
		for _, a := range as {
			if !have[a.AlertID] {
				f.Alerts = append(f.Alerts, a)
				have[a.AlertID] = true
			}
		}
		if t, ok := due[user]; ok && (f.DueMs == 0 || t.UnixMilli() < f.DueMs) {
			f.DueMs = t.UnixMilli() // the earliest pending digest
		}
		if err := s.writeHeld(user, f); err != nil {
			return fmt.Errorf("keeping the alerts held for %s: %w", user, err)
		}
	}
	return nil
}

// Held implements evaluator.Held.
func (s *Store) Held(_ context.Context, user string) ([]alert.Alert, error) {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	f, err := s.readHeld(user)
	return f.Alerts, err
}

// Release implements evaluator.Held.
func (s *Store) Release(_ context.Context, user string, ids []string, next time.Time) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	f, err := s.readHeld(user)
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	kept := f.Alerts[:0]
	for _, a := range f.Alerts {
		if !gone[a.AlertID] {
			kept = append(kept, a)
		}
	}
	f.Alerts, f.DueMs = kept, 0
	if !next.IsZero() {
		f.DueMs = next.UnixMilli()
	}
	return s.writeHeld(user, f)
}

// digestsDue lists the ids (evaluator.HeldPrefix + user) of the digests due by now.
func (s *Store) digestsDue(now time.Time) []string {
	entries, err := os.ReadDir(filepath.Join(s.stateDir, heldDir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		hexName, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hexName)
		if err != nil {
			continue
		}
		user := string(raw)
		f, err := s.readHeld(user)
		if err != nil || len(f.Alerts) == 0 || f.DueMs > now.UnixMilli() {
			continue
		}
		out = append(out, evaluator.HeldPrefix+user)
	}
	sort.Strings(out)
	return out
}
