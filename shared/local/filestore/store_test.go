package filestore

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/local/wal"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/golden"
	"github.com/iotwatch/iotwatch/shared/testsupport/storetest"
)

const hdr = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n"

// writeFiles writes a thresholds CSV and a devices CSV of configs and devs into dir.
func writeFiles(t *testing.T, dir string, cfgs []threshold.Config, devs []device.Device) (string, string) {
	t.Helper()
	var th strings.Builder
	th.WriteString(hdr)
	for _, c := range cfgs {
		th.WriteString(strings.Join([]string{c.UserID, c.DeviceID, c.TempWarning.String(), c.TempViolation.String(),
			c.TempLowWarning.String(), c.TempLowViolation.String(), c.LightNoOccupancy.String()}, ","))
		th.WriteString("," + strconv.FormatInt(c.SustainSeconds, 10) + "\n")
	}
	dv := "device_id,name,location\n"
	for _, d := range devs {
		dv += d.ID + "," + d.Name + "," + d.Location + "\n"
	}
	thPath, dvPath := filepath.Join(dir, "thresholds.csv"), filepath.Join(dir, "devices.csv")
	require.NoError(t, os.WriteFile(thPath, []byte(th.String()), 0o644))
	require.NoError(t, os.WriteFile(dvPath, []byte(dv), 0o644))
	return thPath, dvPath
}

// TestStoreContract runs the Store contract against the file store, and again against stores
// reopened from the same directory for every call (what a restart reads must be what was saved).
func TestStoreContract(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, cfgs []threshold.Config, devs []device.Device) evaluator.Store {
			dir := t.TempDir()
			th, dv := writeFiles(t, dir, cfgs, devs)
			s, err := Open(th, dv, filepath.Join(dir, "state"), nil)
			require.NoError(t, err)
			return s
		})
	})
	t.Run("reopened for every call", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, cfgs []threshold.Config, devs []device.Device) evaluator.Store {
			dir := t.TempDir()
			th, dv := writeFiles(t, dir, cfgs, devs)
			return &reopening{t: t, th: th, dv: dv, state: filepath.Join(dir, "state")}
		})
	})
}

// reopening opens the store afresh from disk for each call, as a restarted run would.
type reopening struct {
	t             *testing.T
	th, dv, state string
}

func (r *reopening) open() *Store {
	s, err := Open(r.th, r.dv, r.state, nil)
	require.NoError(r.t, err)
	return s
}

func (r *reopening) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	return r.open().LoadDevice(ctx, id)
}

func (r *reopening) LoadStates(ctx context.Context, ids []string) (map[string]evaluator.State, error) {
	return r.open().LoadStates(ctx, ids)
}

func (r *reopening) SaveState(ctx context.Context, id string, st evaluator.State) (int64, error) {
	return r.open().SaveState(ctx, id, st)
}

func (r *reopening) Catalog(ctx context.Context) (*reading.Catalog, error) {
	return r.open().Catalog(ctx)
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	th, dv := writeFiles(t, dir, storetest.Configs, storetest.Devices)
	s, err := Open(th, dv, filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	ctx := context.Background()
	st := alarm.DeviceState{Last: 5, HasLast: true, Recent: []string{"t:5"}, Rules: map[string]*alarm.RuleState{"temperature_high:alice": {Flags: 1, LastAt: 5, Open: alarm.Warning}}}
	v, err := s.SaveState(ctx, "room-1", evaluator.State{Alarm: st})
	require.NoError(t, err)
	again, err := Open(th, dv, filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	d, err := again.LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	assert.Equal(t, evaluator.State{Alarm: st, Version: v}, d.State)
	assert.Len(t, d.Configs, 2)
	assert.Equal(t, "Office 1", d.Info.Name)
}

// TestStoredFileFormat pins the journal's record of a state: a change of format must be
// deliberate (IOTWATCH_UPDATE=1 go test), since files written by the running version must stay
// readable after an upgrade. The checked-in record is read back too.
func TestStoredFileFormat(t *testing.T) {
	dir := t.TempDir()
	th, _ := writeFiles(t, dir, storetest.Configs, nil)
	s, err := Open(th, "", filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	st := storetest.FullState()
	_, err = s.SaveState(context.Background(), "room-1", evaluator.State{Alarm: st})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	j, err := wal.Open(filepath.Join(dir, "state", journalDir), wal.Options{})
	require.NoError(t, err)
	rec, err := j.Reader(1).Next(context.Background())
	require.NoError(t, err)
	golden.Check(t, "state-file.golden", string(rec.Data)+"\n")
	require.NoError(t, j.Close())

	golden, err := os.ReadFile(filepath.Join("testdata", "state-file.golden"))
	require.NoError(t, err)
	assert.Equal(t, evaluator.State{Alarm: st, Version: 1}, loadJournalled(t, golden), "the checked-in record reads back as the state it holds")
}

// TestEarlierFormatsDecode: what every released version wrote (testdata/formats/, copies of the
// golden files of their day, never regenerated) reads back as the state it held: the state file
// of a device (before the journal) and the journal's record.
func TestEarlierFormatsDecode(t *testing.T) {
	for _, f := range storetest.Formats() {
		t.Run(f.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "formats", f.Name+stateExt))
			require.NoError(t, err)
			dir := t.TempDir()
			th, _ := writeFiles(t, dir, storetest.Configs, nil)
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "state"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "state", "room-1"+stateExt), b, 0o644))
			s, err := Open(th, "", filepath.Join(dir, "state"), nil)
			require.NoError(t, err)
			d, err := s.LoadDevice(context.Background(), "room-1")
			require.NoError(t, err)
			assert.Equal(t, evaluator.State{Alarm: f.State, Version: 1}, d.State)
			require.NoError(t, s.Close())
		})
	}
	t.Run("v6-journal-record", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join("testdata", "formats", "v6-journal-record.json"))
		require.NoError(t, err)
		assert.Equal(t, evaluator.State{Alarm: storetest.FullState(), Version: 1}, loadJournalled(t, b))
	})
}

// loadJournalled appends the record b to a new store's journal as it is, and returns the state
// of room-1 the store reads back when it opens.
func loadJournalled(t *testing.T, b []byte) evaluator.State {
	t.Helper()
	dir := t.TempDir()
	th, _ := writeFiles(t, dir, storetest.Configs, nil)
	j, err := wal.Open(filepath.Join(dir, "state", journalDir), wal.Options{})
	require.NoError(t, err)
	_, err = j.Append(bytes.TrimSuffix(b, []byte("\n")))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	s, err := Open(th, "", filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	d, err := s.LoadDevice(context.Background(), "room-1")
	require.NoError(t, err)
	return d.State
}

func TestReloadKeepsGoodThresholds(t *testing.T) {
	dir := t.TempDir()
	th := filepath.Join(dir, "t.csv")
	require.NoError(t, os.WriteFile(th, []byte(hdr+"alice,room-1,24,26,,,,0\n"), 0o644))
	s, err := Open(th, "", dir, nil)
	require.NoError(t, err)
	ctx := context.Background()
	edit := func(body string, at time.Time) {
		require.NoError(t, os.WriteFile(th, []byte(body), 0o644))
		require.NoError(t, os.Chtimes(th, at, at))
		s.Reload()
	}
	later := time.Now().Add(time.Second)
	edit(hdr+"alice,room-1,24,26,,,,0\nbob,room-1,20,,,,,0\n", later)
	d, _ := s.LoadDevice(ctx, "room-1")
	assert.Len(t, d.Configs, 2, "after a good edit")
	versions := func() map[string]int64 {
		d, _ := s.LoadDevice(ctx, "room-1")
		out := map[string]int64{}
		for _, c := range d.Configs {
			out[c.UserID] = c.Version
		}
		return out
	}
	assert.Equal(t, map[string]int64{"alice": 1, "bob": 1}, versions(), "alice unchanged keeps 1, bob new")
	edit(hdr+"alice,room-1,24,26.5,,,,0\nbob,room-1,20,,,,,0\n", later.Add(500*time.Millisecond))
	assert.Equal(t, map[string]int64{"alice": 2, "bob": 1}, versions(), "alice changed")
	edit(hdr+"alice,room-1,26,24,,,,0\n", later.Add(time.Second))
	d, _ = s.LoadDevice(ctx, "room-1")
	assert.Len(t, d.Configs, 2, "after a bad edit: the thresholds in force stay")
	require.NoError(t, os.Remove(th))
	s.Reload()
	d, _ = s.LoadDevice(ctx, "room-1")
	assert.Len(t, d.Configs, 2, "after the file vanished: the thresholds in force stay")
}

// TestUnreadableStateIsMovedAside: an empty state file (a power cut) once stopped `run` from
// starting; it is moved aside with a loud error, and the other devices keep their state.
func TestUnreadableStateIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	th, dv := writeFiles(t, dir, storetest.Configs, storetest.Devices)
	stateDir := filepath.Join(dir, "state")
	s, err := Open(th, dv, stateDir, nil)
	require.NoError(t, err)
	_, err = s.SaveState(context.Background(), "room-2", evaluator.State{Alarm: alarm.DeviceState{Last: 7, HasLast: true}})
	require.NoError(t, err)
	for name, body := range map[string]string{"room-1": "", "room-3": `{"last":`} {
		require.NoError(t, os.WriteFile(filepath.Join(stateDir, name+stateExt), []byte(body), 0o644))
	}
	var logged strings.Builder
	s, err = Open(th, dv, stateDir, slog.New(slog.NewTextHandler(&logged, nil)))
	require.NoError(t, err, "an unreadable state file must not stop the start")
	d, err := s.LoadDevice(context.Background(), "room-2")
	require.NoError(t, err)
	assert.Equal(t, int64(7), d.State.Alarm.Last, "the readable state stays")
	aside, _ := filepath.Glob(filepath.Join(stateDir, "*.unreadable-*"))
	assert.Len(t, aside, 2)
	assert.Equal(t, 2, strings.Count(logged.String(), "UNREADABLE ALARM STATE"))
	// the moved-aside files are not read again
	_, err = Open(th, dv, stateDir, nil)
	require.NoError(t, err)
}

// TestABatchIsOneWriteAndSurvivesCompaction: the states of a batch take one fsync, and the
// journal, compacted into a snapshot as it grows, reads back the same after a restart.
func TestABatchIsOneWriteAndSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	th, _ := writeFiles(t, dir, storetest.Configs, nil)
	stateDir := filepath.Join(dir, "state")
	s := &Store{thresholdsPath: th, stateDir: stateDir, log: slog.New(slog.DiscardHandler),
		mem: evaluator.NewTables(), compactAt: 20 << 10}
	require.NoError(t, s.readThresholds())
	require.NoError(t, s.openJournal())
	ctx := context.Background()
	want := map[string]int64{}
	for round := range 30 {
		var writes []evaluator.StateWrite
		for d := range 100 {
			id := fmt.Sprintf("dev-%03d", d)
			writes = append(writes, evaluator.StateWrite{ID: id, State: evaluator.State{
				Alarm: alarm.DeviceState{Last: int64(round), HasLast: true}, Version: int64(round)}})
			want[id] = int64(round)
		}
		syncs := s.journal.Stats().Syncs
		versions, errs := s.SaveStates(ctx, writes)
		for i := range writes {
			require.NoError(t, errs[i])
			require.Equal(t, int64(round+1), versions[i])
		}
		assert.Equal(t, syncs+1, s.journal.Stats().Syncs, "one fsync for a batch of 100 states")
	}
	st := s.journal.Stats()
	assert.Less(t, st.Bytes, int64(60<<10), "compaction keeps the journal small (%d bytes of %d written)", st.Bytes, st.Written)
	assert.FileExists(t, filepath.Join(stateDir, snapshotFile))
	_, errs := s.SaveStates(ctx, []evaluator.StateWrite{{ID: "dev-000", State: evaluator.State{Version: 3}}})
	assert.ErrorIs(t, errs[0], evaluator.ErrConflict, "versions are checked per write")
	require.NoError(t, s.Close())

	again, err := Open(th, "", stateDir, nil)
	require.NoError(t, err)
	defer again.Close()
	states := again.States()
	require.Len(t, states, 100)
	for id, last := range want {
		assert.Equal(t, last, states[id].Alarm.Last, id)
		assert.Equal(t, last+1, states[id].Version, id)
	}
}
