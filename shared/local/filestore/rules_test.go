package filestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/storetest"
)

// filed is a file store whose rules and devices files a test edits, as people do, and reloads.
type filed struct {
	*Store
	rules, devices string
	edits          int
}

func (f *filed) write(t *testing.T, path, body string) {
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	f.edits++
	at := time.Now().Add(time.Duration(f.edits) * time.Second) // a new modification time, whatever the clock's grain
	require.NoError(t, os.Chtimes(path, at, at))
}

func (f *filed) SetRules(t *testing.T, rows []rule.Row) {
	var b strings.Builder
	require.NoError(t, rule.WriteCSV(&b, rows))
	f.write(t, f.rules, b.String())
	f.Reload()
}

func (f *filed) SetDevices(t *testing.T, devs []device.Device) {
	f.writeDevices(t, devs)
	f.Reload()
}

func (f *filed) writeDevices(t *testing.T, devs []device.Device) {
	body := "device_id,name,location\n"
	for _, d := range devs {
		body += d.ID + "," + d.Name + "," + d.Location + "\n"
	}
	f.write(t, f.devices, body)
}

func TestRulesContract(t *testing.T) {
	storetest.RunRules(t, func(t *testing.T, rows []rule.Row, devs []device.Device) storetest.RulesStore {
		dir := t.TempDir()
		f := &filed{rules: filepath.Join(dir, "rules.csv"), devices: filepath.Join(dir, "devices.csv")}
		var b strings.Builder
		require.NoError(t, rule.WriteCSV(&b, rows))
		f.write(t, f.rules, b.String())
		f.writeDevices(t, devs)
		s, err := Open("", f.devices, filepath.Join(dir, "state"), nil)
		require.NoError(t, err)
		require.NoError(t, s.UseRules(f.rules))
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		f.Store = s
		return f
	})
}

// TestSilenceOfARulesFileIsDue: a silent row of the rules file (here the fleet's) makes a quiet
// device due for the run's silence check, as a thresholds file's silent_seconds does.
func TestSilenceOfARulesFileIsDue(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.csv")
	require.NoError(t, os.WriteFile(rules, []byte("user_id,scope,metric,rule,warning\nops,fleet,,silent,900\n"), 0o644))
	s, err := Open("", "", filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.UseRules(rules))
	last := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	_, err = s.SaveState(context.Background(), "room-1", evaluator.State{Alarm: alarm.DeviceState{Last: last.UnixNano(), HasLast: true}})
	require.NoError(t, err)
	assert.Empty(t, s.Due(last.Add(10*time.Minute)), "not silent for 900 s yet")
	assert.Equal(t, []string{"room-1"}, s.Due(last.Add(15*time.Minute)))
}
