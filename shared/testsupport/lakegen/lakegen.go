// Package lakegen writes generated lakes for tests and benchmarks: devices reporting once a
// minute (bronze), hourly metrics (aggregated from them by the real aggregation, or written
// directly for long ranges), a known set of alert episodes, and quarantined records.
package lakegen

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/lakefiles"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Lake is a generated lake: devices reporting once a minute for RawDays (bronze), hourly
// metrics for GoldDays, and a known set of episodes and rejections.
type Lake struct {
	Root       string
	End        time.Time // the end of the last hour with readings
	Devices    []device.Device
	Thresholds []threshold.Config
	// Silent is the device that stopped reporting two hours before End; Hot the one with an
	// episode open at End.
	Silent, Hot string
}

type Options struct {
	Devices, RawDays, GoldDays int
	// RealGold aggregates gold from bronze with the real aggregation (DuckDB); otherwise gold
	// is written directly, for the days without bronze too (the benchmark's 30 days).
	RealGold bool
	End      time.Time
	// CO2 adds ops's co2_high episodes: every device, every hour its CO2 passes 600 ppm (the
	// readings climb from 450 each hour): the run from :51, OPEN at :56, RESOLVE at the next hour
	// (the last hour's still open at End).
	CO2 bool
}

// DeviceID is the id of the i-th device: room-000, room-001, …
func DeviceID(i int) string { return fmt.Sprintf("room-%03d", i) }

// Temp is device i's temperature at t: a daily wave, warmer from 10:00 to 11:00 (the episodes).
func Temp(i int, t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	v := 21 + 1.5*math.Sin((h-9)/24*2*math.Pi) + float64(i%4)*0.3
	if t.Hour() == 10 {
		v += 2.5
	}
	return math.Round(v*100) / 100
}

// Make writes a lake under a temporary directory of tb.
func Make(tb testing.TB, o Options) Lake {
	tb.Helper()
	root := tb.TempDir()
	if o.End.IsZero() {
		o.End = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	}
	l := Lake{Root: root, End: o.End, Silent: DeviceID(o.Devices - 1), Hot: DeviceID(0)}
	for i := range o.Devices {
		id := DeviceID(i)
		l.Devices = append(l.Devices, device.Device{ID: id, Name: fmt.Sprintf("Room %d", i), Location: fmt.Sprintf("Building A floor %d", i%5+1)})
		l.Thresholds = append(l.Thresholds, threshold.Config{UserID: "alice", DeviceID: id, TempWarning: threshold.Of(23), TempViolation: threshold.Of(23.8), SustainSeconds: 300})
	}
	rawStart := o.End.Add(-time.Duration(o.RawDays) * 24 * time.Hour)
	var b strings.Builder
	for h := rawStart; h.Before(o.End); h = h.Add(time.Hour) {
		b.Reset()
		for m := range 60 {
			t := h.Add(time.Duration(m) * time.Minute)
			for i := range o.Devices {
				if DeviceID(i) == l.Silent && !t.Before(o.End.Add(-2*time.Hour)) {
					continue
				}
				fmt.Fprintf(&b, `{"device_id":"%s","event_time":"%s","temperature":%g,"humidity":%g,"light":%g,"co2":%g,"occupancy":%d,"msg_id":"m%d"}`+"\n",
					DeviceID(i), t.Format(time.RFC3339), Temp(i, t), 30+float64(m%10), float64(400*(t.Hour()/8%2)), 450+float64(m*3), t.Hour()/8%2, t.Unix())
			}
		}
		WriteGz(tb, filepath.Join(root, filepath.FromSlash(lake.Partition(lake.Bronze, h)), "part-0.json.gz"), b.String())
	}
	// Alerts: every device, every day, alice's temperature_high from 10:05 to 11:05 (WARNING,
	// then VIOLATION at 10:20); the hot device's last one still open at End.
	var alerts []alert.Alert
	for d := o.End.Add(-time.Duration(max(o.RawDays, o.GoldDays)) * 24 * time.Hour).Truncate(24 * time.Hour); d.Before(o.End); d = d.Add(24 * time.Hour) {
		for i := range o.Devices {
			open := d.Add(10*time.Hour + 5*time.Minute)
			if !open.Before(o.End) {
				continue
			}
			id := DeviceID(i)
			mk := func(k alert.Kind, at time.Time, sev alert.Severity, v float64) {
				a := alert.Alert{Kind: k, AlertTime: at, UserID: "alice", DeviceID: id, Rule: alert.TemperatureHigh, Severity: sev, Metric: "temperature",
					ObservedValue: alert.Num(v), ThresholdValue: alert.Num(23), WindowStartMs: open.UnixMilli(), WindowEndMs: at.UnixMilli(), ConfigVersion: 1}
				a.AlertID = alert.ID(&a)
				alerts = append(alerts, a)
			}
			mk(alert.Open, open, alert.Warning, 23.4)
			if at := open.Add(15 * time.Minute); at.Before(o.End) {
				mk(alert.Escalate, at, alert.Violation, 24.1)
			}
			if at := open.Add(time.Hour); at.Before(o.End) && !(id == l.Hot && d.Add(24*time.Hour).After(o.End)) {
				mk(alert.Resolve, at, alert.Violation, 22.5)
			}
		}
	}
	if o.CO2 {
		for h := rawStart; h.Before(o.End); h = h.Add(time.Hour) {
			for i := range o.Devices {
				id := DeviceID(i)
				last := o.End // the readings' end
				if id == l.Silent {
					last = o.End.Add(-2 * time.Hour)
				}
				start := h.Add(51 * time.Minute)
				for _, k := range []struct {
					kind alert.Kind
					at   time.Time
					v    float64
				}{{alert.Open, h.Add(56 * time.Minute), 450 + 56*3}, {alert.Resolve, h.Add(time.Hour), 450}} {
					if !k.at.Before(last) {
						break
					}
					a := alert.Alert{Kind: k.kind, AlertTime: k.at, UserID: "ops", DeviceID: id, Rule: "co2_high", Severity: alert.Warning, Metric: "co2",
						ObservedValue: alert.Num(k.v), ThresholdValue: alert.Num(600), WindowStartMs: start.UnixMilli(), WindowEndMs: k.at.UnixMilli(), ConfigVersion: 1}
					a.AlertID = alert.ID(&a)
					alerts = append(alerts, a)
				}
			}
		}
	}
	silentAt := o.End.Add(-2*time.Hour + 10*time.Minute)
	a := alert.Alert{Kind: alert.Open, AlertTime: silentAt, UserID: "alice", DeviceID: l.Silent, Rule: alert.DeviceSilent, Severity: alert.Warning,
		WindowStartMs: silentAt.Add(-10 * time.Minute).UnixMilli(), WindowEndMs: silentAt.UnixMilli(), ConfigVersion: 1}
	a.AlertID = alert.ID(&a)
	alerts = append(alerts, a)
	WriteAlerts(tb, root, alerts)
	q := lakefiles.NewQuarantine(root)
	err := q.Put(context.Background(), "shard-0:1", []lake.Rejected{
		{Reason: "malformed_json", Detail: "invalid character", ArrivalTime: o.End.Add(-30 * time.Minute), DataBase64: []byte("{not json"), DataText: "{not json"},
		{Reason: "malformed_json", Detail: "invalid character", ArrivalTime: o.End.Add(-20 * time.Minute), DataBase64: []byte("{nope"), DataText: "{nope"},
		{Reason: "out_of_range", Detail: "temperature 999 is outside -40..85", ArrivalTime: o.End.Add(-10 * time.Minute), DataBase64: []byte(`{"temperature":999}`), DataText: `{"temperature":999}`},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	eng, err := duckdbengine.Open(ctx, root)
	if err != nil {
		tb.Fatal(err)
	}
	defer eng.Close()
	if o.RealGold {
		for h := rawStart; h.Before(o.End); h = h.Add(time.Hour) {
			if _, err := eng.AggregateHour(ctx, aggregate.Hour{Start: h, ExpectedReadings: 60}); err != nil {
				tb.Fatal(err)
			}
		}
		return l
	}
	goldStart := o.End.Add(-time.Duration(o.GoldDays) * 24 * time.Hour)
	for h := goldStart; h.Before(o.End); h = h.Add(time.Hour) {
		out := eng.GoldFile(h)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			tb.Fatal(err)
		}
		hot := 0
		if h.Hour() == 10 {
			hot = 1
		}
		st := fmt.Sprintf(`COPY (SELECT printf('room-%%03d', i) AS device_id, TIMESTAMP '%s' AS hour_start, 60::BIGINT AS readings,
			20.0 + (i %% 4) * 0.3 + %d * 2.5 AS temperature_min, 21.0 + (i %% 4) * 0.3 + %d * 2.5 AS temperature_avg, 22.0 + (i %% 4) * 0.3 + %d * 2.5 AS temperature_max,
			21.0 AS temperature_p50, 22.0 AS temperature_p95, 35.0 AS humidity_avg, 200.0 AS light_avg, 400.0 AS light_max, 500.0 AS co2_avg, 600.0 AS co2_max,
			0.5 AS occupancy_ratio, 60::BIGINT AS expected_readings, 100.0 AS health_pct, %d::BIGINT AS alerts_warning, %d::BIGINT AS alerts_violation
			FROM range(%d) t(i)) TO '%s' (FORMAT parquet)`, h.Format("2006-01-02 15:04:05"), hot, hot, hot, hot, hot, o.Devices, out)
		if _, err := eng.DB().ExecContext(ctx, st); err != nil {
			tb.Fatal(err)
		}
	}
	return l
}

// WriteAlerts adds alerts to the lake at root, each in its hour's partition (their ids are
// made when empty).
func WriteAlerts(tb testing.TB, root string, alerts []alert.Alert) {
	tb.Helper()
	w := lakefiles.NewWriter(root, lake.Alerts, "alert_time")
	for i := range alerts {
		if alerts[i].AlertID == "" {
			alerts[i].AlertID = alert.ID(&alerts[i])
		}
		line, err := alerts[i].MarshalJSON()
		if err != nil {
			tb.Fatal(err)
		}
		if err := w.AddAt(line, alerts[i].AlertTime.Truncate(time.Hour)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// WriteGz writes text gzip-compressed to path, creating its directory.
func WriteGz(tb testing.TB, path, text string) {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(text)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}
