package lakeview_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// parseRules reads a rules file's body (its header given here).
func parseRules(t testing.TB, body string) []rule.Row {
	t.Helper()
	rows, err := rule.ParseCSV(strings.NewReader("user_id,scope,metric,rule,warning,violation\n"+body), "rules.csv", rule.BuiltIn{})
	require.NoError(t, err)
	return rows
}

// readerWith is a Reader of the lake at its end that draws the rules of rules.
func readerWith(t testing.TB, l lakegen.Lake, rules lakeview.Rules) *lakeview.Reader {
	t.Helper()
	r, err := lakeview.Open(context.Background(), lakeview.Config{Lake: l.Root, Devices: l.Devices, Rules: rules, Now: func() time.Time { return l.End }})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// device reads a device's page over the last day, its charts by id.
func device(t testing.TB, r *lakeview.Reader, id string) map[string]lakeview.Chart {
	t.Helper()
	now, _ := r.Clock()
	p, err := r.Device(context.Background(), now, id, 24*time.Hour)
	require.NoError(t, err)
	out := map[string]lakeview.Chart{}
	for _, c := range p.Charts {
		out[c.ID] = c
	}
	return out
}

// TestThresholdsOnTheChartOfTheirMetric: each rule in force draws its warning and violation on
// its metric's chart (CO₂ and humidity too), the most specific row winning: a location's row for
// the devices there, the fleet's elsewhere. Anomaly, silent and a rule on a metric with no chart
// draw nothing.
func TestThresholdsOnTheChartOfTheirMetric(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 1, RealGold: true})
	rows := parseRules(t, "bob,fleet,co2,high,2000,\n"+
		"bob,location:Building A floor 2,co2,high,1000,1500\n"+ // room-001's location
		"bob,device:room-001,humidity,low,25,20\n"+
		"bob,fleet,light,no_occupancy,300,\n"+
		"bob,fleet,temperature,anomaly,3,\n"+
		"bob,fleet,humidity_ratio,high,0.01,\n"+
		"bob,fleet,,silent,600,\n")
	r := readerWith(t, l, lakeview.StaticRules(l.Devices, l.Thresholds, rows))

	c := device(t, r, "room-001")
	assert.Equal(t, []lakeview.Line{{Label: "bob co2 high warning", Value: 1000, Severity: "WARNING"},
		{Label: "bob co2 high violation", Value: 1500, Severity: "VIOLATION"}}, c["co2"].Thresholds, "the location's row beats the fleet's")
	assert.Equal(t, []lakeview.Line{{Label: "bob humidity low warning", Value: 25, Severity: "WARNING"},
		{Label: "bob humidity low violation", Value: 20, Severity: "VIOLATION"}}, c["humidity"].Thresholds)
	assert.Equal(t, []lakeview.Line{{Label: "bob light no_occupancy warning", Value: 300, Severity: "WARNING"}}, c["light"].Thresholds)
	assert.Equal(t, []lakeview.Line{{Label: "alice temperature high warning", Value: 23, Severity: "WARNING"},
		{Label: "alice temperature high violation", Value: 23.8, Severity: "VIOLATION"}}, c["temperature"].Thresholds,
		"the thresholds file's; bob's anomaly draws no line")

	c = device(t, r, "room-000") // Building A floor 1: the fleet's CO₂ row, no humidity row
	assert.Equal(t, []lakeview.Line{{Label: "bob co2 high warning", Value: 2000, Severity: "WARNING"}}, c["co2"].Thresholds)
	assert.Empty(t, c["humidity"].Thresholds)
}

// TestThresholdsFollowTheRulesFiles: over a running pipeline's store (the file store, which
// follows its files), the next page after an edit of the rules or thresholds file draws the
// edited thresholds, not those of the start.
func TestThresholdsFollowTheRulesFiles(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 1, RealGold: true})
	dir := t.TempDir()
	rules, thresholds := filepath.Join(dir, "rules.csv"), filepath.Join(dir, "thresholds.csv")
	edits := 0
	write := func(path, body string) {
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		edits++
		at := time.Now().Add(time.Duration(edits) * time.Second) // a new modification time, whatever the clock's grain
		require.NoError(t, os.Chtimes(path, at, at))
	}
	write(rules, "user_id,scope,metric,rule,warning\nbob,fleet,co2,high,1000\n")
	write(thresholds, "user_id,device_id,temp_warning\nalice,room-001,24\n")
	store, err := filestore.Open(thresholds, "", filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	require.NoError(t, store.UseRules(rules))
	r := readerWith(t, l, lakeview.StoreRules{Store: store})
	lines := func(c lakeview.Chart) []string {
		var out []string
		for _, ln := range c.Thresholds {
			out = append(out, ln.Label+" "+strconv.FormatFloat(ln.Value, 'f', -1, 64))
		}
		return out
	}
	c := device(t, r, "room-001")
	assert.Equal(t, []string{"bob co2 high warning 1000"}, lines(c["co2"]))
	assert.Equal(t, []string{"alice temperature high warning 24"}, lines(c["temperature"]))

	write(rules, "user_id,scope,metric,rule,warning\nbob,fleet,co2,high,900\nbob,fleet,humidity,high,60\n")
	write(thresholds, "user_id,device_id,temp_warning\nalice,room-001,25.5\n")
	store.Reload() // what the run does every tick
	c = device(t, r, "room-001")
	assert.Equal(t, []string{"bob co2 high warning 900"}, lines(c["co2"]))
	assert.Equal(t, []string{"bob humidity high warning 60"}, lines(c["humidity"]))
	assert.Equal(t, []string{"alice temperature high warning 25.5"}, lines(c["temperature"]))
}

// TestEpisodesShadeTheChartOfTheirMetric: an episode is shaded on its rule's metric's chart
// only; device_silent, and a rule on a metric with no chart, on every chart.
func TestEpisodesShadeTheChartOfTheirMetric(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 1, RealGold: true})
	at := l.End.Add(-3 * time.Hour)
	episode := func(user, dev string, r alert.Rule, metric string) []alert.Alert {
		a := alert.Alert{Kind: alert.Open, AlertTime: at, UserID: user, DeviceID: dev, Rule: r, Severity: alert.Warning, Metric: metric,
			WindowStartMs: at.UnixMilli(), WindowEndMs: at.UnixMilli(), ConfigVersion: 1}
		end := a
		end.Kind, end.AlertTime = alert.Resolve, at.Add(30*time.Minute)
		return []alert.Alert{a, end}
	}
	var alerts []alert.Alert
	alerts = append(alerts, episode("bob", "room-001", "co2_high", "co2")...)
	alerts = append(alerts, episode("bob", "room-001", "humidity_low", "humidity")...)
	alerts = append(alerts, episode("bob", "room-001", "humidity_ratio_high", "humidity_ratio")...)
	lakegen.WriteAlerts(t, l.Root, alerts)
	r := readerWith(t, l, nil)

	c := device(t, r, "room-001")
	assert.Equal(t, []string{"bob co2_high", "bob humidity_ratio_high"}, bandLabels(c["co2"]))
	assert.Equal(t, []string{"bob humidity_low", "bob humidity_ratio_high"}, bandLabels(c["humidity"]))
	assert.Equal(t, []string{"alice temperature_high", "bob humidity_ratio_high"}, bandLabels(c["temperature"]))
	assert.Equal(t, []string{"bob humidity_ratio_high"}, bandLabels(c["light"]))

	c = device(t, r, l.Silent)
	for _, id := range []string{"temperature", "humidity", "co2", "light"} {
		assert.Contains(t, bandLabels(c[id]), "alice device_silent", id)
	}
	assert.NotContains(t, bandLabels(c["co2"]), "alice temperature_high")
}

// bandLabels are the labels of a chart's bands, sorted.
func bandLabels(c lakeview.Chart) []string {
	var out []string
	for _, b := range c.Bands {
		out = append(out, b.Label)
	}
	slices.Sort(out)
	return out
}

// brokenStore fails every read.
type brokenStore struct{}

func (brokenStore) LoadDevice(context.Context, string) (evaluator.Device, error) {
	return evaluator.Device{}, errors.New("the store is down")
}

// TestARulesStoreThatFailsFailsThePage: a device page whose rules cannot be read says so,
// rather than drawing no threshold as if there were none.
func TestARulesStoreThatFailsFailsThePage(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 1, RawDays: 1})
	r := readerWith(t, l, lakeview.StoreRules{Store: brokenStore{}})
	now, _ := r.Clock()
	_, err := r.Device(context.Background(), now, "room-000", 24*time.Hour)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reading the rules in force for room-000: loading the device from the store: the store is down")
}
