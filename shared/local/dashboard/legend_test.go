package dashboard

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// figure is the HTML of one chart's figure on a page ("" when the page has none).
func figure(body, id string) string {
	i := strings.Index(body, `<figure class="chart" id="chart-`+id+`"`)
	if i < 0 {
		return ""
	}
	f := body[i:]
	return f[:strings.Index(f, "</figure>")]
}

// TestEachChartSaysWhatItShadesAndDraws: a device page's charts each have a key, in words, of
// the episodes shaded on them (by rule and severity, counted) and of the thresholds drawn (with
// their values): bob's CO₂ rule of his location and his CO₂ episode on the CO₂ chart only, alice's
// temperature rule and episodes on the temperature chart; a chart with neither has no key.
func TestEachChartSaysWhatItShadesAndDraws(t *testing.T) {
	l := smallLake(t)
	at := l.End.Add(-3 * time.Hour)
	open := alert.Alert{Kind: alert.Open, AlertTime: at, UserID: "bob", DeviceID: "room-001", Rule: "co2_high", Severity: alert.Warning,
		Metric: "co2", WindowStartMs: at.UnixMilli(), WindowEndMs: at.UnixMilli(), ConfigVersion: 1}
	end := open
	end.Kind, end.AlertTime = alert.Resolve, at.Add(20*time.Minute)
	lakegen.WriteAlerts(t, l.Root, []alert.Alert{open, end})
	rows, err := rule.ParseCSV(strings.NewReader("user_id,scope,metric,rule,warning\n"+
		"bob,location:Building A floor 2,co2,high,1000\ncarol,fleet,co2,high,2000\n"), "rules.csv", rule.BuiltIn{})
	require.NoError(t, err)
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Rules: lakeview.StaticRules(l.Devices, l.Thresholds, rows),
		Now: func() time.Time { return l.End }})
	require.NoError(t, err)
	defer s.Close()

	_, body := get(t, s, "/device/room-001")
	co2 := figure(body, "co2")
	assert.Contains(t, co2, `<li><span class="key band warning" aria-hidden="true"></span>shaded: bob co2_high, warning (1 episode)</li>`)
	assert.Contains(t, co2, `<li><span class="key line warning" aria-hidden="true"></span>dashed: bob co2 high warning, 1000 ppm</li>`)
	assert.Contains(t, co2, "dashed: carol co2 high warning, 2000 ppm")
	assert.NotContains(t, co2, "temperature")
	temp := figure(body, "temperature")
	assert.Contains(t, temp, "shaded: alice temperature_high, violation (1 episode)")
	assert.Contains(t, temp, "dashed: alice temperature high warning, 23 °C")
	assert.Contains(t, temp, "dashed: alice temperature high violation, 23.8 °C")
	assert.NotContains(t, temp, "co2")
	assert.NotContains(t, figure(body, "humidity"), `class="chart-key"`, "nothing shaded or drawn on it")
	assert.Contains(t, body, "a shade is the time an episode was open")

	_, body = get(t, s, "/device/room-001?range=7d")
	assert.Contains(t, figure(body, "temperature"), "shaded: alice temperature_high, violation (3 episodes)", "one a day")

	_, body = get(t, s, "/alerts")
	assert.Contains(t, body, "<option>carol</option>", "a user of the rules in force, with no episode")
}
