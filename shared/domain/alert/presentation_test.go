package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the tests wherever they run
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/testsupport/golden"
)

func chicago(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	return loc
}

func testCatalog(t *testing.T) *reading.Catalog {
	cat, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max\npm25,µg/m³,0,1000\nsupply_temp,°C,-20,80\n"), "metrics.csv")
	require.NoError(t, err)
	return cat
}

// readersAlerts are the alerts of the golden texts: every kind of comparison a text makes.
func readersAlerts() []Alert {
	summer := sample(Open, TemperatureHigh, "temperature")
	summer.AlertTime = time.Date(2015, 7, 2, 14, 25, 0, 0, time.UTC)
	summer.WindowStartMs = summer.AlertTime.Add(-6 * time.Minute).UnixMilli()
	return []Alert{
		sample(Open, TemperatureHigh, "temperature"),
		withValues(sample(Resolve, TemperatureLow, "temperature"), 18.5, 18),
		withValues(sample(Escalate, TemperatureHigh, "temperature"), 24.01, 24),
		withValues(sample(Open, TemperatureAnomaly, "temperature"), -3.2, 3),
		withValues(sample(Remind, SensorStuck, "temperature"), 21.5, 1800),
		withValues(sample(Open, DeviceSilent, ""), 900, 900),
		withValues(sample(Open, "co2_high", "co2"), 1240, 1000),
		withValues(sample(Open, "humidity_low", "humidity"), 18, 25),
		withValues(sample(Open, "supply_temp_high", "supply_temp"), 61.5, 60),
		withValues(sample(Open, "pm25_high", "pm25"), 41.5, 35),
		summer,
	}
}

// render writes every text of the golden alerts and a digest of them, as one reader reads them.
func render(p Presentation) string {
	var b strings.Builder
	d := device.Device{ID: "room-1", Name: "Office 1", Location: "Floor 2"}
	held := readersAlerts()
	for i := range held {
		a := &held[i]
		fmt.Fprintf(&b, "=== %s %s\nSubject: %s\nSMS: %s\n%s\n", a.Kind, a.Rule, p.Subject(a, d), p.SMS(a, d), p.Email(a, d))
	}
	digest := NewDigest("alice", time.Date(2015, 7, 3, 12, 0, 0, 0, time.UTC), held)
	subject, email, sms := p.DigestTexts(&digest, held, func(id string) string { return "Office 1 (" + id + ")" })
	fmt.Fprintf(&b, "=== DIGEST\nSubject: %s\nSMS: %s\n%s", subject, sms, email)
	return b.String()
}

// TestReadersTexts: the same alerts for a metric reader in UTC and an imperial reader in
// Chicago (golden files; `go test -update` rewrites them), with the figures that matter
// checked here as well.
func TestReadersTexts(t *testing.T) {
	cat := testCatalog(t)
	metric := render(Presentation{Catalog: cat})
	imperial := render(Presentation{Units: ImperialUnits, Zone: chicago(t), Catalog: cat})
	golden.Check(t, "texts-metric-utc.txt", metric)
	golden.Check(t, "texts-imperial-chicago.txt", imperial)

	for _, want := range []string{
		"temperature 24.3°C > 24°C", "Time:      2015-02-02 14:25:00 UTC\n", "Since:     2015-02-02 14:19:00 UTC (6m0s)",
		"24.3°C > 24°C Feb 2 14:25 UTC", "CO₂ 1240 ppm > 1000 ppm", "supply temp 61.5°C > 60°C",
	} {
		assert.Contains(t, metric, want)
	}
	assert.NotContains(t, metric, "°F")
	for _, want := range []string{
		"temperature 75.7°F > 75.2°F",                            // 24.3 °C, 24 °C
		"Time:      2015-02-02 08:25:00 CST (America/Chicago)\n", // 14:25 UTC is 08:25 CST (UTC-6)
		"Since:     2015-02-02 08:19:00 CST (6m0s)",
		"Episode:   2015-02-02 08:19:00 CST to 2015-02-02 08:25:00 CST (6m0s)",
		"75.7°F > 75.2°F Feb 2 08:25 CST",
		"65.3°F back within 64.4°F",                            // 18.5 °C, 18 °C
		"75.22°F > 75.2°F",                                     // 24.01 °C vs 24 °C: a second decimal keeps them apart
		"26.2°F, more than 3 standard",                         // -3.2 °C; 3 standard deviations stay 3
		"stuck at 70.7°F for 30m",                              // 21.5 °C; 1800 s stay 30m
		"no reading for 15m",                                   // seconds are seconds
		"CO₂ 1240 ppm > 1000 ppm",                              // no other unit for CO₂
		"18% < 25%",                                            // nor for humidity
		"supply temp 61.5°C > 60°C",                            // a declared metric keeps its declared unit
		"41.5 µg/m³ > 35 µg/m³",                                // and so does its other unit
		"Time:      2015-07-02 09:25:00 CDT (America/Chicago)", // daylight saving time: UTC-5
		"lasted, from Feb 2 08:25 CST to Jul 3 07:00 CDT (America/Chicago), 11 alerts",
		"- Feb 2 08:25 CST WARNING OPEN temperature high on Office 1 (room-1): 75.7°F > 75.2°F",
	} {
		assert.Contains(t, imperial, want)
	}
	for _, line := range strings.Split(metric+imperial, "\n") {
		if sms, ok := strings.CutPrefix(line, "SMS: "); ok {
			assert.LessOrEqual(t, utf8.RuneCountInString(sms), MaxSMS, sms)
		}
		if subj, ok := strings.CutPrefix(line, "Subject: "); ok {
			assert.LessOrEqual(t, utf8.RuneCountInString(subj), MaxSubject, subj)
		}
	}
}

// TestJSONStaysSI: the alert JSON is the contract's, in SI units and UTC, whoever reads the
// texts; rendering them changes nothing of the alert.
func TestJSONStaysSI(t *testing.T) {
	a := sample(Open, TemperatureHigh, "temperature")
	before, err := json.Marshal(a)
	require.NoError(t, err)
	render(Presentation{Units: ImperialUnits, Zone: chicago(t), Catalog: testCatalog(t)})
	p := Presentation{Units: ImperialUnits, Zone: chicago(t)}
	_ = p.Email(&a, device.Device{ID: "room-1"}) + p.SMS(&a, device.Device{ID: "room-1"})
	after, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))
	assert.Contains(t, string(after), `"alert_time":"2015-02-02T14:25:00Z"`)
	assert.Contains(t, string(after), `"observed_value":24.3,"threshold_value":24`)
}

func TestFahrenheit(t *testing.T) {
	p := Presentation{Units: ImperialUnits}
	tests := []struct {
		celsius, threshold float64
		observed, limit    string
	}{
		{24.3, 24, "75.7", "75.2"},
		{-40, 0, "-40", "32"},
		{100, 37, "212", "98.6"},
		{-17.78, -17.77, "0", "0.01"}, // -0.004 °F and 0.014 °F: apart at the second decimal, never "-0"
		{24.01, 24, "75.22", "75.2"},
		{24.001, 24, "75.202", "75.2"},
		{20, 20, "68", "68"}, // equal values read equal
	}
	for _, tc := range tests {
		o, l := p.values("temperature", Num(tc.celsius), Num(tc.threshold))
		assert.Equal(t, [2]string{tc.observed, tc.limit}, [2]string{o, l}, "%v °C, %v °C", tc.celsius, tc.threshold)
	}
	o, l := p.values("temperature", Number{}, Num(24))
	assert.Equal(t, [2]string{"none", "75.2"}, [2]string{o, l}, "an absent value stays absent")
	o, _ = Presentation{}.values("temperature", Num(24.3), Num(24))
	assert.Equal(t, "24.3", o, "metric: as the alert holds it")
}

// TestZoneNamed: an SMS's time on the reader's clock, named by the zone's abbreviation at that
// instant, or by its offset where the zone has none.
func TestZoneNamed(t *testing.T) {
	a := sample(Open, TemperatureHigh, "temperature") // 2015-02-02 14:25 UTC
	tests := []struct{ zone, want string }{
		{"", "Feb 2 14:25 UTC"},
		{"UTC", "Feb 2 14:25 UTC"},
		{"America/Chicago", "Feb 2 08:25 CST"},
		{"Europe/Paris", "Feb 2 15:25 CET"},
		{"Asia/Kolkata", "Feb 2 19:55 IST"},
		{"America/Sao_Paulo", "Feb 2 12:25 -02"}, // Brazil's summer time of 2015; no abbreviation
		{"Asia/Tokyo", "Feb 2 23:25 JST"},
	}
	for _, tc := range tests {
		var p Presentation
		if tc.zone != "" {
			loc, err := time.LoadLocation(tc.zone)
			require.NoError(t, err)
			p.Zone = loc
		}
		assert.True(t, strings.HasSuffix(p.SMS(&a, device.Device{ID: "room-1"}), tc.want), "%s: %s", tc.zone, p.SMS(&a, device.Device{ID: "room-1"}))
	}
}
