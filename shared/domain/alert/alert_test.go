package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

func sample(kind Kind, rule Rule, metric string) Alert {
	at := time.Date(2015, 2, 2, 14, 25, 0, 0, time.UTC)
	a := Alert{Kind: kind, AlertTime: at, UserID: "alice", DeviceID: "room-1", Rule: rule, Severity: "WARNING", Metric: metric,
		ObservedValue: Num(24.3), ThresholdValue: Num(24), WindowStartMs: at.Add(-6 * time.Minute).UnixMilli(), WindowEndMs: at.UnixMilli()}
	a.AlertID = ID(&a)
	return a
}

func TestJSONIsTheContract(t *testing.T) {
	a := sample(Open, "temperature_high", "temperature")
	a.ConfigVersion = 3
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"alert_id":"` + a.AlertID + `","kind":"OPEN","alert_time":"2015-02-02T14:25:00Z","user_id":"alice","device_id":"room-1","rule":"temperature_high","severity":"WARNING","metric":"temperature","observed_value":24.3,"threshold_value":24,"window_start_ms":1422886740000,"window_end_ms":1422887100000,"config_version":3}`
	if string(b) != want {
		t.Errorf("json.Marshal = %s\nwant %s", b, want)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, a)
	}
}

func withValues(a Alert, observed, threshold float64) Alert {
	a.ObservedValue, a.ThresholdValue = Num(observed), Num(threshold)
	return a
}

func TestTexts(t *testing.T) {
	long := device.Device{ID: "room-1", Name: strings.Repeat("Großer Besprechungsraum ", 10), Location: "Haus B, 3. Stock"}
	tests := []struct {
		name  string
		a     Alert
		d     device.Device
		email []string
		sms   []string
	}{
		{"open high", sample(Open, "temperature_high", "temperature"), device.Device{ID: "room-1", Name: "Office 1", Location: "Floor 2"},
			[]string{"WARNING alert opened: temperature high on Office 1 (room-1)", "Location:  Floor 2", "temperature 24.3°C > 24°C", "Time:      2015-02-02 14:25:00 UTC\n", "Since:     2015-02-02 14:19:00 UTC (6m0s)"},
			[]string{"iotwatch WARNING OPEN: Office 1 temperature high: 24.3°C > 24°C Feb 2 14:25 UTC"}},
		{"resolve low", sample(Resolve, "temperature_low", "temperature"), device.Device{ID: "room-1"},
			[]string{"resolved", "back within", "Episode:   2015-02-02 14:19:00 UTC to 2015-02-02 14:25:00 UTC"}, []string{"RESOLVE: room-1"}},
		{"light", sample(Open, "light_no_occupancy", "light"), device.Device{ID: "room-1"}, []string{"lights on in an empty room", "24.3 lux > 24 lux"}, []string{"lux"}},
		{"anomaly", sample(Open, TemperatureAnomaly, "temperature"), device.Device{ID: "room-1"},
			[]string{"unusual temperature", "24.3°C, more than 24 standard deviations"}, []string{"unusual temperature: 24.3°C, more than 24 standard"}},
		{"stuck", withValues(sample(Remind, SensorStuck, "temperature"), 21.5, 1800), device.Device{ID: "room-1"},
			[]string{"still open", "stuck at 21.5°C for 30m or more"}, []string{"REMIND", "temperature sensor stuck: stuck at 21.5°C for 30m or more"}},
		{"silent", withValues(sample(Open, DeviceSilent, ""), 900, 900), device.Device{ID: "room-1"},
			[]string{"device silent", "Reading:   no reading for 15m"}, []string{"device silent: no reading for 15m"}},
		{"silence over", withValues(sample(Resolve, DeviceSilent, ""), 3725, 900), device.Device{ID: "room-1"},
			[]string{"reporting again after 1h2m5s"}, []string{"RESOLVE"}},
		{"long unicode name is cut", sample(Escalate, "temperature_high", "temperature"), long, []string{"Haus B"}, []string{"…", "24.3°C"}},
		{"stuck opened", withValues(sample(Open, SensorStuck, "temperature"), 21.5, 1800), device.Device{ID: "room-1"},
			[]string{"alert opened", "stuck at 21.5°C for 30m or more"}, []string{"OPEN", "stuck at 21.5°C"}},
		{"anomaly over", sample(Resolve, TemperatureAnomaly, "temperature"), device.Device{ID: "room-1"},
			[]string{"resolved"}, []string{"RESOLVE: room-1"}},
		{"silence reminder", withValues(sample(Remind, DeviceSilent, ""), 1800, 900), device.Device{ID: "room-1"},
			[]string{"still open", "no reading for 30m"}, []string{"REMIND", "device silent: no reading for 30m"}},
		{"long name, every rule", withValues(sample(Remind, DeviceSilent, ""), 86400*6, 900), long, []string{"Haus B"}, []string{"…", "REMIND"}},
		{"long name, stuck", withValues(sample(Escalate, SensorStuck, "temperature"), -12.25, 604800), long, []string{"Haus B"}, []string{"…"}},
		{"long name, anomaly", sample(Open, TemperatureAnomaly, "temperature"), long, []string{"Haus B"}, []string{"…"}},
		// Rules on any metric name it and carry its unit (the built-ins', a declared metric's from the catalog).
		{"co2 high", withValues(sample(Open, "co2_high", "co2"), 1240, 1000), device.Device{ID: "room-1", Name: "Office 1"},
			[]string{"CO₂ high on Office 1", "Reading:   CO₂ 1240 ppm > 1000 ppm"}, []string{"Office 1 CO₂ high: 1240 ppm > 1000 ppm"}},
		{"humidity low", withValues(sample(Open, "humidity_low", "humidity"), 18, 25), device.Device{ID: "room-1"},
			[]string{"humidity low", "18% < 25%"}, []string{"humidity low: 18% < 25%"}},
		{"declared metric high", withValues(sample(Open, "pm25_high", "pm25"), 41.5, 35), device.Device{ID: "room-1"},
			[]string{"pm25 high", "41.5 µg/m³ > 35 µg/m³"}, []string{"pm25 high: 41.5 µg/m³ > 35 µg/m³"}},
		{"declared metric anomaly", withValues(sample(Open, "supply_temp_anomaly", "supply_temp"), 31, 3), device.Device{ID: "room-1"},
			[]string{"unusual supply temp", "31°C, more than 3 standard deviations"}, []string{"unusual supply temp: 31°C"}},
		{"declared metric stuck", withValues(sample(Open, "power_w_stuck", "power_w"), 0, 3600), device.Device{ID: "room-1"},
			[]string{"power w sensor stuck", "stuck at 0 W for 1h or more"}, []string{"stuck at 0 W"}},
		{"declared metric low resolved", withValues(sample(Resolve, "power_w_low", "power_w"), 480, 100), device.Device{ID: "room-1"},
			[]string{"power w low", "480 W back within 100 W"}, []string{"RESOLVE"}},
		{"a metric the catalog no longer declares: no unit", withValues(sample(Open, "voc_high", "voc"), 3, 2), device.Device{ID: "room-1"},
			[]string{"voc high", "Reading:   voc 3 > 2\n"}, []string{"voc high: 3 > 2"}},
	}
	cat, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max\npm25,µg/m³,0,1000\nsupply_temp,°C,-20,80\npower_w,W,0,100000\n"), "metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Presentation{Catalog: cat}
			email, sms, subj := p.Email(&tc.a, tc.d), p.SMS(&tc.a, tc.d), p.Subject(&tc.a, tc.d)
			for _, w := range tc.email {
				if !strings.Contains(email, w) {
					t.Errorf("email lacks %q:\n%s", w, email)
				}
			}
			for _, w := range tc.sms {
				if !strings.Contains(sms, w) {
					t.Errorf("SMS %q lacks %q", sms, w)
				}
			}
			if n := utf8.RuneCountInString(sms); n > MaxSMS {
				t.Errorf("SMS has %d characters: %q", n, sms)
			}
			if n := utf8.RuneCountInString(subj); n > MaxSubject || strings.ContainsAny(subj, "\n\r") {
				t.Errorf("subject %q: %d characters", subj, n)
			}
		})
	}
}

// TestAbsentValuesAreNull: the RESOLVE of a deleted config has no threshold, and its reading
// may lack the rule's metric: both are JSON null, and the texts say so.
func TestAbsentValuesAreNull(t *testing.T) {
	a := sample(Resolve, TemperatureHigh, "temperature")
	a.ObservedValue, a.ThresholdValue = Number{}, Number{}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"observed_value":null,"threshold_value":null`) {
		t.Errorf("json.Marshal = %s; want null values", b)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, a)
	}
	if sms := (Presentation{}).SMS(&a, device.Device{ID: "room-1"}); !strings.Contains(sms, "temperature high: thresholds removed") {
		t.Errorf("SMS = %q", sms)
	}
}

func TestSilentMetricIsNull(t *testing.T) {
	a := sample(Open, DeviceSilent, "")
	b, err := json.Marshal(a)
	if err != nil || !strings.Contains(string(b), `"metric":null`) {
		t.Fatalf("json.Marshal = %s, %v; want a null metric", b, err)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, a)
	}
}
