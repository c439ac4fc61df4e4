package lakeview_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

func TestEpisodes(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	v := func(f float64) *float64 { return &f }
	row := func(m int, kind, user, rule, sev string, obs *float64) lakeview.Row {
		return lakeview.Row{ID: fmt.Sprintf("%s-%d", kind, m), Kind: kind, User: user, Device: "room-1", Rule: rule, Severity: sev, At: at(m), Observed: obs}
	}
	snooze := func(m int, user, rule string, until int) lakeview.Row {
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
		rows []lakeview.Row
		want []want // newest first
	}{
		{"open, escalate, resolve", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(23.4)), row(10, "ESCALATE", "alice", "temperature_high", "VIOLATION", v(24.5)),
			row(30, "RESOLVE", "alice", "temperature_high", "VIOLATION", v(22))},
			[]want{{"temperature_high", "VIOLATION", 0, 30, "", -1, v(24.5)}}},
		{"a low rule's peak is its lowest", []lakeview.Row{
			row(0, "OPEN", "bob", "temperature_low", "WARNING", v(19.8)), row(5, "REMIND", "bob", "temperature_low", "WARNING", v(19.1))},
			[]want{{"temperature_low", "WARNING", 0, -1, "", -1, v(19.1)}}},
		{"rows read from a later hour open it", []lakeview.Row{row(20, "RESOLVE", "alice", "temperature_high", "WARNING", v(22))},
			[]want{{"temperature_high", "WARNING", 20, 20, "", -1, nil}}},
		{"acknowledged; an ACK of nothing open is nothing", []lakeview.Row{
			row(0, "ACK", "alice", "temperature_high", "WARNING", nil), row(1, "OPEN", "alice", "temperature_high", "WARNING", v(24)),
			row(2, "ACK", "alice", "temperature_high", "WARNING", nil)},
			[]want{{"temperature_high", "WARNING", 1, -1, "alice", -1, v(24)}}},
		{"a snooze of every rule, then one of a rule, the latest end wins", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "", 60), snooze(2, "alice", "temperature_high", 30)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 60, v(24)}}},
		{"a snooze replaces the user's earlier one of the rule", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 90), snooze(2, "alice", "temperature_high", 30)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 30, v(24)}}},
		{"unsnoozing every rule leaves the rule's snooze", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 45), snooze(2, "alice", "", 90),
			row(3, "UNSNOOZE", "alice", "", "", nil)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 45, v(24)}}},
		{"unsnoozing the rule leaves the device's snooze", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), snooze(1, "alice", "temperature_high", 45), snooze(2, "alice", "", 90),
			row(3, "UNSNOOZE", "alice", "temperature_high", "", nil)},
			[]want{{"temperature_high", "WARNING", 0, -1, "", 90, v(24)}}},
		{"another user's snooze is not this one's; a snooze before the OPEN counts", []lakeview.Row{
			snooze(0, "bob", "", 90), snooze(0, "alice", "temperature_high", 80), row(5, "OPEN", "alice", "temperature_high", "WARNING", v(24))},
			[]want{{"temperature_high", "WARNING", 5, -1, "", 80, v(24)}}},
		{"two users, two episodes, newest first", []lakeview.Row{
			row(0, "OPEN", "alice", "temperature_high", "WARNING", v(24)), row(5, "OPEN", "bob", "temperature_low", "WARNING", v(19)),
			row(9, "DIGEST", "alice", "", "WARNING", v(3))},
			[]want{{"temperature_low", "WARNING", 5, -1, "", -1, v(19)}, {"temperature_high", "WARNING", 0, -1, "", -1, v(24)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lakeview.Episodes(tc.rows)
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
