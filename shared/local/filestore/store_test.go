package filestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

const hdr = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n"

func TestStateSurvivesReopenAndConflicts(t *testing.T) {
	dir := t.TempDir()
	th := filepath.Join(dir, "t.csv")
	os.WriteFile(th, []byte(hdr+"alice,room-1,24,26,,,,0\n"), 0o644)
	s, err := Open(th, "", filepath.Join(dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := alarm.DeviceState{Last: 5, HasLast: true, Rules: map[string]*alarm.RuleState{"temperature_high:alice": {Open: alarm.Warning}}}
	if err := s.SaveState(ctx, "room-1", &st); err != nil || st.Version != 1 {
		t.Fatalf("save: %v, version %d", err, st.Version)
	}
	stale := alarm.DeviceState{}
	if err := s.SaveState(ctx, "room-1", &stale); !errors.Is(err, evaluator.ErrConflict) {
		t.Errorf("stale save = %v", err)
	}
	again, err := Open(th, "", filepath.Join(dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := again.LoadDevice(ctx, "room-1")
	if d.State.Version != 1 || d.State.Rules["temperature_high:alice"].Open != alarm.Warning || len(d.Configs) != 1 {
		t.Errorf("after reopening: %+v", d)
	}
}

func TestReloadKeepsGoodThresholds(t *testing.T) {
	dir := t.TempDir()
	th := filepath.Join(dir, "t.csv")
	os.WriteFile(th, []byte(hdr+"alice,room-1,24,26,,,,0\n"), 0o644)
	s, err := Open(th, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	later := time.Now().Add(time.Second)
	os.WriteFile(th, []byte(hdr+"alice,room-1,24,26,,,,0\nbob,room-1,20,,,,,0\n"), 0o644)
	os.Chtimes(th, later, later)
	s.Reload()
	if d, _ := s.LoadDevice(ctx, "room-1"); len(d.Configs) != 2 {
		t.Errorf("after a good edit: %d configs; want 2", len(d.Configs))
	}
	os.WriteFile(th, []byte(hdr+"alice,room-1,26,24,,,,0\n"), 0o644)
	later = later.Add(time.Second)
	os.Chtimes(th, later, later)
	s.Reload()
	if d, _ := s.LoadDevice(ctx, "room-1"); len(d.Configs) != 2 {
		t.Errorf("after a bad edit: %d configs; want the 2 in force", len(d.Configs))
	}
}
