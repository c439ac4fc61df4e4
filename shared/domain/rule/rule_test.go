package rule

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scope
		err  string
	}{
		{"fleet", Scope{Kind: Fleet}, ""},
		{"device:room-1", Scope{Kind: Device, Name: "room-1"}, ""},
		{"location:Building A floor 2", Scope{Kind: Location, Name: "Building A floor 2"}, ""},
		{"device:room 1", Scope{}, "does not match"},
		{"location:", Scope{}, "the location is empty"},
		{"location: A", Scope{}, "surrounding spaces"},
		{"building:A", Scope{}, "is not device:<id>, location:<name> or fleet"},
		{"Fleet", Scope{}, "is not device:<id>"},
	} {
		got, err := ParseScope(c.in)
		if c.err != "" {
			require.Error(t, err, c.in)
			assert.Contains(t, err.Error(), c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got)
		assert.Equal(t, c.in, got.String())
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		metric string
		kind   Kind
		want   alert.Rule
	}{
		{"temperature", High, alert.TemperatureHigh}, {"temperature", Low, alert.TemperatureLow},
		{"light", NoOccupancy, alert.LightNoOccupancy}, {"temperature", Anomaly, alert.TemperatureAnomaly},
		{"temperature", Stuck, alert.SensorStuck}, {"", Silent, alert.DeviceSilent},
		{"co2", High, "co2_high"}, {"humidity", Low, "humidity_low"}, {"co2", Anomaly, "co2_anomaly"}, {"humidity", Stuck, "humidity_stuck"},
	} {
		assert.Equal(t, c.want, Row{Metric: c.metric, Kind: c.kind}.Name())
	}
}

func TestValidate(t *testing.T) {
	ok := func(r Row) Row {
		if r.UserID == "" {
			r.UserID = "ops"
		}
		r.Scope = Scope{Kind: Fleet}
		return r
	}
	v := threshold.Of
	for _, c := range []struct {
		name string
		row  Row
		want []string // "" for valid
	}{
		{"co2 high", ok(Row{Metric: "co2", Kind: High, Warning: v(1000), Violation: v(1500), SustainSeconds: 600, Hysteresis: v(50)}), nil},
		{"humidity low", ok(Row{Metric: "humidity", Kind: Low, Warning: v(25), Violation: v(20)}), nil},
		{"violation only", ok(Row{Metric: "co2", Kind: High, Violation: v(1500)}), nil},
		{"silent", ok(Row{Kind: Silent, Warning: v(900), RemindSeconds: 3600}), nil},
		{"anomaly with floor", ok(Row{Metric: "co2", Kind: Anomaly, Warning: v(4), Floor: v(5)}), nil},
		{"stuck on humidity", ok(Row{Metric: "humidity", Kind: Stuck, Warning: v(1800)}), nil},
		{"unknown metric", ok(Row{Metric: "pm25", Kind: High, Warning: v(35)}), []string{"metric: \"pm25\" is neither"}},
		{"no metric", ok(Row{Kind: High, Warning: v(35)}), []string{"metric: is empty"}},
		{"silent on a metric", ok(Row{Metric: "co2", Kind: Silent, Warning: v(900)}), []string{"metric: silent is about the device"}},
		{"high in the wrong order", ok(Row{Metric: "co2", Kind: High, Warning: v(1500), Violation: v(1000)}), []string{"violation: 1000 is below warning 1500"}},
		{"low in the wrong order", ok(Row{Metric: "humidity", Kind: Low, Warning: v(20), Violation: v(25)}), []string{"violation: 25 is above warning 20"}},
		{"high with nothing", ok(Row{Metric: "co2", Kind: High}), []string{"warning: is empty, as is violation"}},
		{"negative sustain", ok(Row{Metric: "co2", Kind: High, Warning: v(1), SustainSeconds: -1}), []string{"sustain_seconds: -1 is negative"}},
		{"long sustain", ok(Row{Metric: "co2", Kind: High, Warning: v(1), SustainSeconds: 8 * 86400}), []string{"sustain_seconds: 691200 is more than"}},
		{"short remind", ok(Row{Metric: "co2", Kind: High, Warning: v(1), RemindSeconds: 60}), []string{"remind_seconds: 60 is less than 300"}},
		{"negative hysteresis", ok(Row{Metric: "co2", Kind: High, Warning: v(1), Hysteresis: v(-1)}), []string{"hysteresis: -1 is negative"}},
		{"silent too short", ok(Row{Kind: Silent, Warning: v(30)}), []string{"warning: must be whole seconds from 60"}},
		{"stuck in fractions", ok(Row{Metric: "co2", Kind: Stuck, Warning: v(1.5)}), []string{"warning: must be whole seconds from 1"}},
		{"anomaly at 0", ok(Row{Metric: "co2", Kind: Anomaly, Warning: v(0)}), []string{"warning: must be a z-score above 0"}},
		{"floor on high", ok(Row{Metric: "co2", Kind: High, Warning: v(1), Floor: v(1)}), []string{"floor: does not apply to high"}},
		{"violation on stuck", ok(Row{Metric: "co2", Kind: Stuck, Warning: v(60), Violation: v(120)}), []string{"violation: does not apply to stuck"}},
		{"bad user", Row{UserID: " ops", Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: High, Warning: v(1)}, []string{"user_id:"}},
		{"every problem at once", ok(Row{Metric: "pm25", Kind: High, Warning: v(2), Violation: v(1), SustainSeconds: -5, RemindSeconds: 10}),
			[]string{"metric:", "violation:", "sustain_seconds:", "remind_seconds:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.row.Validate(BuiltIn{})
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Len(t, strings.Split(err.Error(), "\n"), len(c.want), "one error a problem: %v", err)
		})
	}
}

// TestFromConfig: a wide config means exactly its device rows (DESIGN.md's mapping).
func TestFromConfig(t *testing.T) {
	c := threshold.Config{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(23), TempViolation: threshold.Of(23.8),
		TempLowWarning: threshold.Of(19), LightNoOccupancy: threshold.Of(300), SustainSeconds: 300,
		TempHysteresis: threshold.Of(0.2), LightHysteresis: threshold.Of(20), SilentSeconds: 900, StuckSeconds: 1800,
		TempZScore: threshold.Of(4), RemindSeconds: 3600, Version: 3}
	dev := Scope{Kind: Device, Name: "room-1"}
	base := Row{UserID: "alice", Scope: dev, RemindSeconds: 3600, Version: 3}
	with := func(f func(*Row)) Row { r := base; f(&r); return r }
	want := []Row{
		with(func(r *Row) {
			r.Metric, r.Kind, r.Warning, r.Violation, r.SustainSeconds, r.Hysteresis = "temperature", High, threshold.Of(23), threshold.Of(23.8), 300, threshold.Of(0.2)
		}),
		with(func(r *Row) {
			r.Metric, r.Kind, r.Warning, r.SustainSeconds, r.Hysteresis = "temperature", Low, threshold.Of(19), 300, threshold.Of(0.2)
		}),
		with(func(r *Row) {
			r.Metric, r.Kind, r.Warning, r.SustainSeconds, r.Hysteresis = "light", NoOccupancy, threshold.Of(300), 300, threshold.Of(20)
		}),
		with(func(r *Row) {
			r.Metric, r.Kind, r.Warning, r.SustainSeconds = "temperature", Anomaly, threshold.Of(4), 300
		}),
		with(func(r *Row) { r.Metric, r.Kind, r.Warning = "temperature", Stuck, threshold.Of(1800) }),
		with(func(r *Row) { r.Kind, r.Warning = Silent, threshold.Of(900) }),
	}
	got := FromConfig(c)
	assert.Equal(t, want, got)
	for _, r := range got {
		assert.NoError(t, r.Validate(BuiltIn{}), "a valid wide config makes valid rows: %+v", r)
	}
	assert.Empty(t, FromConfig(threshold.Config{UserID: "bob", DeviceID: "room-2"}), "nothing set, no rule")
}

// TestMostSpecificRowWins: per (user, metric, rule), the device's row, else its location's, else
// the fleet's; other users and other metrics are apart; a device that moves takes its new
// location's rows; one with no location takes the fleet's.
func TestMostSpecificRowWins(t *testing.T) {
	v := threshold.Of
	fleet, locA, locB := Scope{Kind: Fleet}, Scope{Kind: Location, Name: "A"}, Scope{Kind: Location, Name: "B"}
	rows := []Row{
		{UserID: "ops", Scope: fleet, Metric: "co2", Kind: High, Warning: v(1000), Version: 1},
		{UserID: "ops", Scope: locA, Metric: "co2", Kind: High, Warning: v(900), Version: 2},
		{UserID: "ops", Scope: Scope{Kind: Device, Name: "room-1"}, Metric: "co2", Kind: High, Warning: v(800), Version: 3},
		{UserID: "ops", Scope: locB, Metric: "co2", Kind: High, Warning: v(1200), Version: 4},
		{UserID: "ops", Scope: fleet, Kind: Silent, Warning: v(900), Version: 5},
		{UserID: "ops", Scope: locA, Metric: "humidity", Kind: Low, Warning: v(25), Version: 6},
		{UserID: "alice", Scope: fleet, Metric: "co2", Kind: High, Warning: v(1100), Version: 7},
	}
	won := func(d device.Device) map[string]int64 {
		out := map[string]int64{}
		for _, f := range Resolve(rows, d) {
			out[f.UserID+" "+string(f.Name())] = f.Version
		}
		return out
	}
	assert.Equal(t, map[string]int64{"ops co2_high": 3, "ops device_silent": 5, "ops humidity_low": 6, "alice co2_high": 7},
		won(device.Device{ID: "room-1", Location: "A"}), "the device's own row")
	assert.Equal(t, map[string]int64{"ops co2_high": 2, "ops device_silent": 5, "ops humidity_low": 6, "alice co2_high": 7},
		won(device.Device{ID: "room-2", Location: "A"}), "its location's")
	assert.Equal(t, map[string]int64{"ops co2_high": 4, "ops device_silent": 5, "alice co2_high": 7},
		won(device.Device{ID: "room-2", Location: "B"}), "moved to B: B's rows, A's humidity rule no longer")
	assert.Equal(t, map[string]int64{"ops co2_high": 1, "ops device_silent": 5, "alice co2_high": 7},
		won(device.Device{ID: "room-9"}), "no location: the fleet's")

	in := Resolve(rows, device.Device{ID: "room-1", Location: "A"})
	require.Equal(t, "ops", in[0].UserID)
	assert.Equal(t, int64(3), in[0].Version)
	require.Len(t, in[0].Over, 2, "the rows it won over, for explain")
	assert.Equal(t, []int64{2, 1}, []int64{in[0].Over[0].Version, in[0].Over[1].Version}, "most specific first")
	var order []string
	for _, f := range in {
		order = append(order, f.UserID+" "+string(f.Name()))
	}
	assert.Equal(t, []string{"ops co2_high", "ops humidity_low", "ops device_silent", "alice co2_high"}, order,
		"by user as they first appear, then rule kind, then metric")
}

func TestCheck(t *testing.T) {
	v := threshold.Of
	rows := []Row{
		{UserID: "ops", Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: High, Warning: v(1000)},
		{UserID: "ops", Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: Low, Warning: v(300)},
		{UserID: "ops", Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: High, Warning: v(1200)},
	}
	err := Check(rows, func(i int) string { return "rules.csv:" + string(rune('2'+i)) })
	require.Error(t, err)
	assert.Equal(t, `rules.csv:4: user_id: ops already has a high rule on "co2" for fleet on rules.csv:2`, err.Error())
	require.NoError(t, Check(rows[:2], func(int) string { return "" }))

	var many []Row
	for i := range MaxRowsPerUser + 1 {
		many = append(many, Row{UserID: "ops", Scope: Scope{Kind: Device, Name: "room-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}, Metric: "co2", Kind: High, Warning: v(1)})
	}
	err = Check(many, func(i int) string { return "line" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has more than 500 rules")
}

func TestParseName(t *testing.T) {
	for _, r := range []Row{{Metric: "temperature", Kind: High}, {Metric: "light", Kind: NoOccupancy}, {Metric: "temperature", Kind: Stuck},
		{Kind: Silent}, {Metric: "co2", Kind: Anomaly}, {Metric: "humidity_ratio", Kind: Low}, {Metric: "pm25", Kind: Stuck}} {
		m, k, ok := ParseName(r.Name())
		require.True(t, ok, r.Name())
		assert.Equal(t, r.Metric, m)
		assert.Equal(t, r.Kind, k)
	}
	for _, bad := range []alert.Rule{"", "temperature_stuck", "co2", "co2_silent", "Co2_high", "_high", "co2-high", "co2_hot"} {
		_, _, ok := ParseName(bad)
		assert.False(t, ok, bad)
	}
}
