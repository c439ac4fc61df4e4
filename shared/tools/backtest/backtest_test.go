package backtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

func line(dev string, min int, temp float64) string {
	return fmt.Sprintf(`{"device_id":%q,"event_time":"2015-02-02T%02d:%02d:00Z","temperature":%g}`, dev, 14+min/60, min%60, temp)
}

func runLines(t *testing.T, cfgs []threshold.Config, opts Options, lines ...string) []string {
	t.Helper()
	var got []string
	_, err := Run(cfgs, NewLines(strings.NewReader(strings.Join(lines, "\n")), "x"), opts, func(a alert.Alert) error {
		got = append(got, fmt.Sprintf("%s %s %s %s v%d", a.AlertTime.Format("15:04"), a.DeviceID, a.Rule, a.Kind, a.ConfigVersion))
		return nil
	}, func(Rejected) error { return nil })
	require.NoError(t, err)
	return got
}

// TestSilenceOnTheBacktestClock: the clock is the largest event time applied over every device;
// it moves before a reading is applied, so a reading after a long gap first opens its device's
// silence, then resolves it; at the end the clock goes to --until.
func TestSilenceOnTheBacktestClock(t *testing.T) {
	cfgs := []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600},
		{UserID: "alice", DeviceID: "room-2", SilentSeconds: 600},
	}
	got := runLines(t, cfgs, Options{},
		line("room-1", 0, 20), line("room-2", 0, 20),
		line("room-2", 5, 20), line("room-2", 10, 20), line("room-2", 15, 20), // room-1 silent from 14:10
		line("room-1", 20, 20), // opens are due before this reading's own alerts: OPEN, then RESOLVE
		line("room-2", 40, 20), // room-2's own gap: OPEN at 14:25, RESOLVE at 14:40
	)
	assert.Equal(t, []string{
		"14:10 room-1 device_silent OPEN v1", "14:20 room-1 device_silent RESOLVE v1",
		"14:25 room-2 device_silent OPEN v1", "14:30 room-1 device_silent OPEN v1", "14:40 room-2 device_silent RESOLVE v1",
	}, got)

	// --until moves the clock past the last reading: both devices fall silent.
	got = runLines(t, cfgs, Options{Until: time.Date(2015, 2, 2, 15, 0, 0, 0, time.UTC)}, line("room-1", 0, 20), line("room-2", 30, 20))
	assert.Equal(t, []string{"14:10 room-1 device_silent OPEN v1", "14:40 room-2 device_silent OPEN v1"}, got)
}

// TestLateReadingsDoNotMoveTheClock: a late reading is not applied, and moves nothing.
func TestLateReadingsDoNotMoveTheClock(t *testing.T) {
	cfgs := []threshold.Config{{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600}, {UserID: "alice", DeviceID: "room-2", SilentSeconds: 600}}
	got := runLines(t, cfgs, Options{}, line("room-1", 30, 20), line("room-2", 30, 20), line("room-1", 50, 20), line("room-1", 45, 20))
	assert.Equal(t, []string{"14:40 room-1 device_silent OPEN v1", "14:40 room-2 device_silent OPEN v1", "14:50 room-1 device_silent RESOLVE v1"}, got,
		"the late 14:45 of room-1, after its 14:50, opens and resolves nothing")
}
