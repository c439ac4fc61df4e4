package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

func TestEpisodes(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	v := func(f float64) *float64 { return &f }
	row := func(m int, kind, user, rule, sev string, obs *float64) Row {
		return Row{ID: fmt.Sprintf("%s-%d", kind, m), Kind: kind, User: user, Device: "room-1", Rule: rule, Severity: sev, At: at(m), Observed: obs}
	}
	snooze := func(m int, user, rule string, until int) Row {
		r := row(m, "SNOOZE", user, rule, "", nil)
		r.WindowEndMs = at(until).UnixMilli()
		return r
	}
	type want struct {
		rule, severity string
		start, end     int // minutes; end -1: open
		acked          string
		snoozedUntil   int // minutes; -1: none
		peak           *float64
	}
	tests := []struct {
		name string
		rows []Row
		want []want // newest first
	}{
		{"open, escalate, resolve", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(23.4)), row(10, "ESCALATE", "alice", "temperature_high", "VIOLATION", v(24.5)),
			row(30, "RESOLVE", "alice", "temperature_high", "VIOLATION", v(22))},
			[]want{{"temperature_high", "VIOLATION", 0, 30, "", -1, v(24.5)}}},
		{"a low rule's peak is its lowest", []Row{
			row(0, "OPEN", "bob", "temperature_low", "WARNING", v(19.8)), row(5, "REMIND", "bob", "temperature_low", "WARNING", v(19.1))},
			[]want{{"temperature_low", "WARNING", 0, -1, "", -1, v(19.1)}}},
		{"rows read from a later hour open it", []Row{row(20, "RESOLVE", "alice", "temperature_high", "WARNING", v(22))},
			[]want{{"temperature_high", "WARNING", 20, 20, "", -1, nil}}},
		{"acknowledged; an ACK of nothing open is nothing", []Row{
			row(0, "ACK", "alice", "temperature_high", "WARNING", nil), row(1, "OPEN", "alice", "temperature_high", "WARNING", v(24)),
			row(2, "ACK", "alice", "temperature_high", "WARNING", nil)},
			[]want{{"temperature_high", "WARNING", 1, -1, "alice", -1, v(24)}}},
		{"a snooze of every rule, then one of a rule, the latest end wins", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "", 60), snooze(2, "alice", "temperature_high", 30)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 60, v(24)}}},
		{"a snooze replaces the user's earlier one of the rule", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 90), snooze(2, "alice", "temperature_high", 30)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 30, v(24)}}},
		{"unsnoozing every rule leaves the rule's snooze", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 45), snooze(2, "alice", "", 90),
			row(3, "UNSNOOZE", "alice", "", "", nil)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 45, v(24)}}},
		{"unsnoozing the rule leaves the device's snooze", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 45), snooze(2, "alice", "", 90),
			row(3, "UNSNOOZE", "alice", "temperature_high", "", nil)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 90, v(24)}}},
		{"another user's snooze is not this one's; a snooze before the OPEN counts", []Row{
			snooze(0, "bob", "", 90), snooze(0, "alice", "temperature_high", 80), row(5, "OPEN", "alice", "temperature_high", "WARNING", v(24))},
			[]want{{"temperature_high", "WARNING", 5, -1, "", 80, v(24)}}},
		{"two users, two episodes, newest first", []Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), row(5, "OPEN", "bob", "temperature_low", "WARNING", v(19)),
			row(9, "DIGEST", "alice", "", "WARNING", v(3))},
			[]want{{"temperature_low", "WARNING", 5, -1, "", -1, v(19)}, {"temperature_high", "WARNING", 0, -1, "", -1, v(24)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Episodes(tc.rows)
			require.Len(t, got, len(tc.want))
			for i, w := range tc.want {
				e := got[i]
				assert.Equal(t, w.rule, e.Rule)
				assert.Equal(t, w.severity, e.Severity)
				assert.Equal(t, at(w.start), e.Start)
				if w.end < 0 {
					assert.True(t, e.Open())
				} else {
					assert.Equal(t, at(w.end), e.End)
				}
				assert.Equal(t, w.acked, e.AckedBy)
				if w.snoozedUntil < 0 {
					assert.True(t, e.SnoozedUntil.IsZero(), "%v", e.SnoozedUntil)
				} else {
					assert.Equal(t, at(w.snoozedUntil), e.SnoozedUntil)
				}
				assert.Equal(t, w.peak, e.Peak)
			}
		})
	}
}

// TestTheCacheFollowsTheLake: an hour aggregated again shows its new rows, a removed hour goes,
// and one that comes back returns, without restarting the pages.
func TestTheCacheFollowsTheLake(t *testing.T) {
	l := smallLake(t)
	s := newServer(t, l, nil)
	avgAt := func(hour int) *float64 {
		_, body := get(t, s, "/device/room-001?range=7d")
		c := charts(t, body)["temperature"]
		want := l.End.Add(-time.Duration(hour) * time.Hour).Unix()
		for i, x := range c.X {
			if x == want {
				return c.Series[1].Values[i]
			}
		}
		return nil
	}
	before := avgAt(3)
	require.NotNil(t, before)
	hour := l.End.Add(-3 * time.Hour)
	// The hour's readings of room-001 rewritten 5 °C warmer, and aggregated again.
	part := filepath.Join(l.Root, filepath.FromSlash(lake.Partition(lake.Bronze, hour)))
	var lines string
	for m := range 60 {
		ts := hour.Add(time.Duration(m) * time.Minute)
		lines += fmt.Sprintf(`{"device_id":"room-001","event_time":"%s","temperature":%g,"msg_id":"x%d"}`+"\n", ts.Format(time.RFC3339), lakegen.Temp(1, ts)+5, m)
	}
	require.NoError(t, os.RemoveAll(part))
	lakegen.WriteGz(t, filepath.Join(part, "part-1.json.gz"), lines)
	ctx := context.Background()
	eng, err := duckdbengine.Open(ctx, l.Root)
	require.NoError(t, err)
	defer eng.Close()
	old, err := os.Stat(eng.GoldFile(hour))
	require.NoError(t, err)
	_, err = eng.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	later := old.ModTime().Add(time.Minute) // a new modification time, whatever the clock's grain
	require.NoError(t, os.Chtimes(eng.GoldFile(hour), later, later))
	after := avgAt(3)
	require.NotNil(t, after)
	assert.InDelta(t, *before+5, *after, 0.01)
	gold := eng.GoldFile(hour)
	saved, err := os.ReadFile(gold)
	require.NoError(t, err)
	require.NoError(t, os.Remove(gold))
	assert.Nil(t, avgAt(3), "a removed hour leaves the page")
	require.NoError(t, os.WriteFile(gold, saved, 0o644))
	assert.InDelta(t, *after, *avgAt(3), 0.01, "and comes back")
}
