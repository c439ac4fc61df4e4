package user

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
)

func paris(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	return loc
}

func TestParseCSV(t *testing.T) {
	users, err := ParseCSV(strings.NewReader("\ufeffuser_id,timezone,quiet_hours,quiet_min_severity\n"+
		"alice,Europe/Paris,22:00-07:00,VIOLATION\nbob,America/New_York,,\ncarol,,09:00-17:30,warning\n"), "users.csv")
	require.NoError(t, err)
	require.Len(t, users, 3)
	assert.Equal(t, "Europe/Paris", users[0].Zone.String())
	assert.Equal(t, Quiet{22 * 60, 7 * 60}, users[0].Quiet)
	assert.False(t, users[1].HasQuiet())
	assert.Equal(t, time.UTC, users[2].Zone)
	assert.Equal(t, alert.Warning, users[2].QuietMinSeverity)

	var b strings.Builder
	require.NoError(t, WriteCSV(&b, users))
	again, err := ParseCSV(strings.NewReader(b.String()), "again.csv")
	require.NoError(t, err)
	assert.Equal(t, users, again, "WriteCSV writes what ParseCSV reads")

	only, err := ParseCSV(strings.NewReader("quiet_hours,user_id\n23:00-06:00,dave\n"), "x.csv")
	require.NoError(t, err, "columns by name, in any order; the others optional")
	assert.Equal(t, "dave", only[0].ID)
}

// TestUnits: the units column, read in any case, written back as read; the files of the
// editions before it (no units column) and the file of this edition both parse, and an empty
// or absent units cell means metric.
func TestUnits(t *testing.T) {
	wide, err := ParseCSV(strings.NewReader("user_id,timezone,quiet_hours,quiet_min_severity,units\n"+
		"alice,Europe/Paris,22:00-07:00,VIOLATION,metric\nbob,America/Chicago,,,Imperial\ncarol,,,,\n"), "users.csv")
	require.NoError(t, err)
	require.Len(t, wide, 3)
	assert.Equal(t, alert.MetricUnits, wide[0].Units)
	assert.Equal(t, alert.ImperialUnits, wide[1].Units, "read in any case")
	assert.Equal(t, alert.UnitSystem(""), wide[2].Units)

	var b strings.Builder
	require.NoError(t, WriteCSV(&b, wide))
	assert.Equal(t, "user_id,timezone,quiet_hours,quiet_min_severity,units\n"+
		"alice,Europe/Paris,22:00-07:00,VIOLATION,metric\nbob,America/Chicago,,,imperial\ncarol,,,,\n", b.String())
	again, err := ParseCSV(strings.NewReader(b.String()), "again.csv")
	require.NoError(t, err)
	assert.Equal(t, wide, again, "WriteCSV writes what ParseCSV reads")

	older, err := ParseCSV(strings.NewReader("user_id,timezone,quiet_hours,quiet_min_severity\nbob,America/Chicago,,\n"), "old.csv")
	require.NoError(t, err, "a file without the units column stays valid")
	assert.Equal(t, alert.UnitSystem(""), older[0].Units)
	oldest, err := ParseCSV(strings.NewReader("user_id,timezone\nbob,America/Chicago\n"), "oldest.csv")
	require.NoError(t, err)

	// What a reader gets: the user's units and zone; metric and UTC for no units, or no user.
	chicago, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	assert.Equal(t, alert.Presentation{Units: alert.ImperialUnits, Zone: chicago}, wide[1].Presentation(nil))
	assert.Equal(t, alert.Presentation{Zone: chicago}, oldest[0].Presentation(nil))
	var nobody *User
	assert.Equal(t, alert.Presentation{}, nobody.Presentation(nil))
	a := alert.Alert{Kind: alert.Open, AlertTime: time.Date(2015, 2, 2, 14, 25, 0, 0, time.UTC), DeviceID: "room-1",
		Rule: alert.TemperatureHigh, Severity: alert.Warning, Metric: "temperature", ObservedValue: alert.Num(24.3), ThresholdValue: alert.Num(24)}
	assert.Contains(t, wide[1].Presentation(nil).SMS(&a, device.Device{ID: "room-1"}), "75.7°F > 75.2°F Feb 2 08:25 CST")
	assert.Contains(t, older[0].Presentation(nil).SMS(&a, device.Device{ID: "room-1"}), "24.3°C > 24°C Feb 2 08:25 CST")
}

func TestParseCSVErrors(t *testing.T) {
	tests := []struct{ name, csv, want string }{
		{"empty", "", "x.csv:1: empty file"},
		{"no user_id column", "timezone\nEurope/Paris\n", "x.csv:1: user_id: required column missing"},
		{"unknown column", "user_id,tz\nalice,UTC\n", "x.csv:1: tz: unknown column"},
		{"unknown zone", "user_id,timezone\nalice,Europe/Pariss\n", `x.csv:2: timezone: "Europe/Pariss" is not an IANA time zone`},
		{"Local is not a zone", "user_id,timezone\nalice,Local\n", "x.csv:2: timezone:"},
		{"quiet hours without a dash", "user_id,quiet_hours\nalice,22:00\n", "x.csv:2: quiet_hours:"},
		{"quiet hours out of range", "user_id,quiet_hours\nalice,22:00-24:00\n", `x.csv:2: quiet_hours: "22:00-24:00": "24:00" is not a time of day`},
		{"quiet hours of no length", "user_id,quiet_hours\nalice,07:00-07:00\n", "x.csv:2: quiet_hours:"},
		{"one-digit hours", "user_id,quiet_hours\nalice,7:00-9:00\n", "x.csv:2: quiet_hours:"},
		{"severity", "user_id,quiet_min_severity\nalice,CRITICAL\n", "x.csv:2: quiet_min_severity:"},
		{"unknown units", "user_id,timezone,units\nalice,UTC,metric\nbob,America/Chicago,US\n", `x.csv:3: units: "US": want metric or imperial (empty: metric)`},
		{"empty user", "user_id,timezone\n,UTC\n", "x.csv:2: user_id: is empty"},
		{"a user twice", "user_id\nalice\nbob\nalice\n", `x.csv:4: user_id: user "alice" is already on line 2`},
		{"too few fields", "user_id,timezone\nalice\n", "x.csv:2: has 1 fields, want 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseCSV(strings.NewReader(tc.csv), "x.csv")
			require.Error(t, err)
			assert.Nil(t, users, "a bad file is refused whole")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := ParseCSV(strings.NewReader("user_id,timezone,quiet_hours\nalice,Mars/Olympus,25:00-07:00\nbob,UTC,\n"), "x.csv")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.csv:2: timezone:")
	assert.Contains(t, err.Error(), "x.csv:2: quiet_hours:", "every problem of a line is named")
}

// TestQuietHours: a window that crosses midnight, and the same wall-clock window on both sides of
// Paris's changes of daylight saving time (2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00).
func TestQuietHours(t *testing.T) {
	loc := paris(t)
	alice := User{ID: "alice", Zone: loc, Quiet: Quiet{22 * 60, 7 * 60}}
	day := User{ID: "carol", Zone: time.UTC, Quiet: Quiet{9 * 60, 17*60 + 30}}
	at := func(s string) time.Time {
		tt, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tt
	}
	tests := []struct {
		u       User
		t       string
		quiet   bool
		quietTo string // QuietEnd, when quiet
	}{
		{alice, "2026-01-15T20:59:00Z", false, ""},                    // 21:59 in Paris (UTC+1)
		{alice, "2026-01-15T21:00:00Z", true, "2026-01-16T06:00:00Z"}, // 22:00: quiet until 07:00 tomorrow
		{alice, "2026-01-15T23:30:00Z", true, "2026-01-16T06:00:00Z"}, // 00:30, past midnight
		{alice, "2026-01-16T05:59:00Z", true, "2026-01-16T06:00:00Z"}, // 06:59
		{alice, "2026-01-16T06:00:00Z", false, ""},                    // 07:00: over
		{alice, "2026-07-15T19:59:00Z", false, ""},                    // 21:59 in summer (UTC+2)
		{alice, "2026-07-15T20:00:00Z", true, "2026-07-16T05:00:00Z"}, // 22:00 summer time
		{alice, "2026-03-28T21:00:00Z", true, "2026-03-29T05:00:00Z"}, // the night of the spring change: 10 h quiet become 9 h
		{alice, "2026-03-29T04:59:00Z", true, "2026-03-29T05:00:00Z"}, // 06:59 CEST
		{alice, "2026-03-29T05:00:00Z", false, ""},                    // 07:00 CEST
		{alice, "2026-10-24T20:00:00Z", true, "2026-10-25T06:00:00Z"}, // the autumn change: 22:00 CEST, until 07:00 CET (10 h become 11 h)
		{alice, "2026-10-25T01:30:00Z", true, "2026-10-25T06:00:00Z"}, // 02:30 CET, the hour that happens twice
		{alice, "2026-10-25T05:59:00Z", true, "2026-10-25T06:00:00Z"}, // 06:59 CET
		{alice, "2026-10-25T06:00:00Z", false, ""},
		{day, "2026-01-15T08:59:59Z", false, ""},
		{day, "2026-01-15T09:00:00Z", true, "2026-01-15T17:30:00Z"},
		{day, "2026-01-15T17:29:59Z", true, "2026-01-15T17:30:00Z"},
		{day, "2026-01-15T17:30:00Z", false, ""},
		{User{ID: "none"}, "2026-01-15T03:00:00Z", false, ""},
	}
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	late := User{ID: "dan", Zone: ny, Quiet: Quiet{22 * 60, 90}} // 22:00-01:30; 2026-11-01 01:00-02:00 happens twice
	tests = append(tests, []struct {
		u       User
		t       string
		quiet   bool
		quietTo string
	}{
		{late, "2026-11-01T05:15:00Z", true, "2026-11-01T05:30:00Z"}, // the first 01:15 (EDT): ends at the first 01:30
		{late, "2026-11-01T06:15:00Z", true, "2026-11-01T06:30:00Z"}, // the second 01:15 (EST): ends at the second 01:30, not before it
		{late, "2026-11-01T06:30:00Z", false, ""},
	}...)
	for _, tc := range tests {
		got := tc.u.InQuiet(at(tc.t))
		assert.Equal(t, tc.quiet, got, "%s.InQuiet(%s)", tc.u.ID, tc.t)
		end := tc.u.QuietEnd(at(tc.t))
		if tc.quiet {
			assert.Equal(t, at(tc.quietTo), end.UTC(), "%s.QuietEnd(%s)", tc.u.ID, tc.t)
		} else {
			assert.Equal(t, at(tc.t), end, "%s.QuietEnd(%s) outside quiet hours", tc.u.ID, tc.t)
		}
	}
}

func TestHolds(t *testing.T) {
	alice := User{ID: "alice", Zone: paris(t), Quiet: Quiet{22 * 60, 7 * 60}}
	night, noon := time.Date(2026, 1, 15, 23, 0, 0, 0, time.UTC), time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)
	assert.True(t, alice.Holds(alert.Warning, night), "a WARNING at night is held (quiet_min_severity defaults to VIOLATION)")
	assert.False(t, alice.Holds(alert.Violation, night), "a VIOLATION still goes out")
	assert.False(t, alice.Holds(alert.Warning, noon), "nothing is held outside quiet hours")
	alice.QuietMinSeverity = alert.Warning
	assert.False(t, alice.Holds(alert.Warning, night), "quiet_min_severity WARNING lets every alert through")
}
