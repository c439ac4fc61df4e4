package alarm

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// thirdScenario is a day of one device's readings that sets off every rule kind of the earlier
// editions on temperature (and light): a warm spell that escalates and lingers in the hysteresis,
// a cold one, lights on in an empty room, a spike after a calm hour, a stuck sensor, a silence.
func thirdScenario() []ev {
	var evs []ev
	t := 0
	add := func(n, every int, temp, light, occ float64) {
		for range n {
			evs = append(evs, rd(in{at: t, temp: temp, light: light, occ: occ}))
			t += every
		}
	}
	add(40, 60, 21, 0, 1)    // calm: the anomaly statistics warm up
	add(3, 60, 29, 0, 1)     // a spike: anomaly (and high)
	add(5, 60, 25, 0, 1)     // warm: high WARNING
	add(5, 60, 27, 0, 1)     // hotter: ESCALATE
	add(3, 60, 23.8, 0, 1)   // within the hysteresis: held open
	add(2, 60, 22, 0, 1)     // RESOLVE
	add(5, 60, 17, 0, 1)     // cold: low
	add(2, 60, 21.3, 500, 0) // lights on, nobody there
	add(3, 60, 21.4, 280, 0) // within the light hysteresis
	add(2, 60, 21.5, 0, 1)
	add(15, 60, 21.7, 0, 1) // the same value for 15 minutes: stuck
	add(1, 60, 21.2, 0, 1)
	evs = append(evs, at(t+1200)) // 20 minutes of silence
	add(1, 60, 21.1, 0, 1)
	return evs
}

func thirdConfigs() []threshold.Config {
	return []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26), SustainSeconds: 120,
			TempHysteresis: threshold.Of(0.5), TempZScore: threshold.Of(3), StuckSeconds: 600, SilentSeconds: 900, RemindSeconds: 300, Version: 2},
		{UserID: "bob", DeviceID: "room-1", TempLowWarning: threshold.Of(18), TempLowViolation: threshold.Of(16),
			LightNoOccupancy: threshold.Of(300), LightHysteresis: threshold.Of(50), Version: 5},
	}
}

// playRules runs a scenario through one Device under rules in force, with each reading changed
// by move first; it returns the alerts.
func playRules(rules []rule.InForce, evs []ev, move func(*reading.Reading)) []alert.Alert {
	var got []alert.Alert
	emit := func(a alert.Alert) { got = append(got, a) }
	d := NewRules(&DeviceState{}, "room-1", rules, nil)
	for _, e := range evs {
		if e.clock >= 0 {
			d.Advance(t0.Add(time.Duration(e.clock)*time.Second), emit)
			continue
		}
		r := e.reading()
		move(&r)
		d.Apply(&r, emit)
	}
	d.Finish()
	return got
}

// TestEveryRuleKindOnAnotherMetric: the same rules and readings, moved from temperature to
// humidity and from light to CO2, give the same alerts (kinds, severities, times, windows,
// values, thresholds), named for their metric: humidity_high, humidity_low, humidity_anomaly,
// humidity_stuck, co2_no_occupancy; device_silent stays.
func TestEveryRuleKindOnAnotherMetric(t *testing.T) {
	var onTemp []rule.InForce
	for _, r := range rule.FromConfigs(thirdConfigs()) {
		onTemp = append(onTemp, rule.InForce{Row: r})
	}
	want := playRules(onTemp, thirdScenario(), func(*reading.Reading) {})
	kinds := map[alert.Rule]bool{}
	for _, a := range want {
		kinds[a.Rule] = true
	}
	for _, r := range []alert.Rule{alert.TemperatureHigh, alert.TemperatureLow, alert.LightNoOccupancy, alert.TemperatureAnomaly, alert.SensorStuck, alert.DeviceSilent} {
		require.True(t, kinds[r], "the scenario sets off %s: %v", r, kinds)
	}

	moved := map[string]string{"temperature": "humidity", "light": "co2"}
	var onOthers []rule.InForce
	for _, f := range onTemp {
		if m, ok := moved[f.Metric]; ok {
			f.Metric = m
		}
		onOthers = append(onOthers, f)
	}
	got := playRules(onOthers, thirdScenario(), func(r *reading.Reading) {
		var out reading.Reading
		out.DeviceID, out.EventTime, out.MsgID = r.DeviceID, r.EventTime, r.MsgID
		if v, ok := r.Value(reading.Temperature); ok {
			out.Set(reading.Humidity, v)
		}
		if v, ok := r.Value(reading.Light); ok {
			out.Set(reading.CO2, v)
		}
		if v, ok := r.Value(reading.Occupancy); ok {
			out.Set(reading.Occupancy, v)
		}
		*r = out
	})
	require.Len(t, got, len(want))
	renamed := map[alert.Rule]alert.Rule{alert.TemperatureHigh: "humidity_high", alert.TemperatureLow: "humidity_low",
		alert.TemperatureAnomaly: "humidity_anomaly", alert.SensorStuck: "humidity_stuck", alert.LightNoOccupancy: "co2_no_occupancy",
		alert.DeviceSilent: alert.DeviceSilent}
	for i := range want {
		w := want[i]
		w.Rule = renamed[w.Rule]
		if m, ok := moved[w.Metric]; ok {
			w.Metric = m
		}
		w.AlertID = alert.ID(&w)
		assert.Equal(t, w, got[i], "alert %d", i)
	}
}

// TestWideAndLongGiveTheSameAlerts: the wide configs and their rows, written in any order and
// resolved for the device beside other users' location and fleet rows, give the same alerts,
// ids included.
func TestWideAndLongGiveTheSameAlerts(t *testing.T) {
	cfgs := thirdConfigs()
	var wide []alert.Alert
	d := NewDevice(&DeviceState{}, cfgs)
	for _, e := range thirdScenario() {
		if e.clock >= 0 {
			d.Advance(t0.Add(time.Duration(e.clock)*time.Second), func(a alert.Alert) { wide = append(wide, a) })
			continue
		}
		r := e.reading()
		d.Apply(&r, func(a alert.Alert) { wide = append(wide, a) })
	}

	rows := rule.FromConfigs(cfgs)
	rows = append(rows,
		rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Location, Name: "Building B"}, Metric: "temperature", Kind: rule.High, Warning: threshold.Of(20)},
		rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Device, Name: "room-2"}, Metric: "temperature", Kind: rule.High, Warning: threshold.Of(20)})
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	long := playRules(rule.Resolve(rows, device.Device{ID: "room-1", Location: "Building A"}), thirdScenario(), func(*reading.Reading) {})

	ids := func(as []alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.AlertID+" "+a.UserID+" "+string(a.Rule)+" "+string(a.Kind))
		}
		sort.Strings(out)
		return out
	}
	require.NotEmpty(t, wide)
	assert.Equal(t, ids(wide), ids(long))
	assert.NotContains(t, strings.Join(ids(long), "\n"), "ops", "other locations' and devices' rows are not in force")
}

// TestStatisticsOfAnUnwatchedMetricGo: the CO2 statistics are kept while an anomaly rule
// watches CO2, and dropped once none does, so that a rule that comes back warms up afresh.
func TestStatisticsOfAnUnwatchedMetricGo(t *testing.T) {
	st := &DeviceState{}
	co2 := func(at int, v float64) reading.Reading {
		r := reading.Reading{DeviceID: "room-1", EventTime: t0.Add(time.Duration(at) * time.Second)}
		r.Set(reading.CO2, v)
		return r
	}
	anomaly := []rule.InForce{{Row: rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Fleet}, Metric: "co2", Kind: rule.Anomaly, Warning: threshold.Of(3)}}}
	d := NewRules(st, "room-1", anomaly, nil)
	for i := range 40 {
		r := co2(i*60, 600)
		d.Apply(&r, func(alert.Alert) {})
	}
	d.Finish()
	require.NotNil(t, st.Stats["co2"])
	assert.Equal(t, int64(AnomalyWarmUp), st.Stats["co2"].N)

	d = NewRules(st, "room-1", nil, nil) // the rule deleted
	r := co2(40*60, 600)
	d.Apply(&r, func(alert.Alert) {})
	d.Finish()
	assert.Nil(t, st.Stats, "no rule watches CO2: its statistics go")
}

// TestDeclaredMetricAnomalyTakesItsCatalogFloor: an anomaly rule on a declared metric with no
// floor of its own judges against the catalog's floor, and its statistics are kept under the
// metric's name; a constant series then a step of 5 opens with a floor of 1, not with 10.
func TestDeclaredMetricAnomalyTakesItsCatalogFloor(t *testing.T) {
	for _, tc := range []struct {
		floor float64
		opens bool
	}{{1, true}, {10, false}} {
		cat, err := reading.NewCatalog([]reading.Declared{{Name: "voc", Min: 0, Max: 1000, Floor: tc.floor}})
		require.NoError(t, err)
		voc, _ := cat.Lookup("voc")
		st := &DeviceState{}
		anomaly := []rule.InForce{{Row: rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Fleet}, Metric: "voc", Kind: rule.Anomaly, Warning: threshold.Of(3)}}}
		d := NewRules(st, "room-1", anomaly, cat)
		var got []alert.Alert
		for i := range 40 {
			r := reading.Reading{DeviceID: "room-1", EventTime: t0.Add(time.Duration(i) * time.Minute)}
			v := 100.0
			if i == 39 {
				v = 105
			}
			r.Set(voc, v)
			d.Apply(&r, func(a alert.Alert) { got = append(got, a) })
		}
		d.Finish()
		assert.NotNil(t, st.Stats["voc"], "the declared metric's statistics, by its name")
		assert.Equal(t, tc.opens, len(got) == 1 && got[0].Rule == "voc_anomaly", "floor %v: %v", tc.floor, got)
	}
}

// TestAnUndeclaredMetricsEpisodeResolves: an open episode of a rule whose metric the catalog no
// longer declares resolves at the device's next reading, as a deleted rule's does, and its state
// goes; declared again, the rule starts afresh.
func TestAnUndeclaredMetricsEpisodeResolves(t *testing.T) {
	cat, err := reading.NewCatalog([]reading.Declared{{Name: "voc", Min: 0, Max: 1000}})
	require.NoError(t, err)
	voc, _ := cat.Lookup("voc")
	high := []rule.InForce{{Row: rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Fleet}, Metric: "voc", Kind: rule.High, Warning: threshold.Of(100)}}}
	st := &DeviceState{}
	at := func(i int, v float64, withVoc bool) *reading.Reading {
		r := &reading.Reading{DeviceID: "room-1", EventTime: t0.Add(time.Duration(i) * time.Minute)}
		r.Set(reading.Temperature, 21)
		if withVoc {
			r.Set(voc, v)
		}
		return r
	}
	var got []alert.Alert
	emit := func(a alert.Alert) { got = append(got, a) }
	d := NewRules(st, "room-1", high, cat)
	d.Apply(at(0, 150, true), emit)
	d.Finish()
	require.Len(t, got, 1)
	require.Equal(t, alert.Open, got[0].Kind)

	got = nil
	d = NewRules(st, "room-1", high, nil) // the catalog no longer declares voc
	d.Apply(at(1, 0, false), emit)
	d.Finish()
	require.Len(t, got, 1, "the open episode resolves")
	assert.Equal(t, alert.Resolve, got[0].Kind)
	assert.Equal(t, alert.Rule("voc_high"), got[0].Rule)
	assert.Empty(t, st.Rules, "its state goes")

	got = nil
	d = NewRules(st, "room-1", high, nil)
	d.Apply(at(2, 0, false), emit)
	d.Finish()
	assert.Empty(t, got, "nothing more")
}
