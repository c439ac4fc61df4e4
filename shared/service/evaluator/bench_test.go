package evaluator_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/evaltest"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

type memPublisher struct{ n int }

func (p *memPublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.n += len(ns)
	return make([]error, len(ns))
}

type memQuarantine struct{}

func (memQuarantine) Put(context.Context, string, []lake.Rejected) error { return nil }

// benchBatch is the benchmark's batch: 10,000 readings, 100 devices, 100 readings each, one a minute.
func benchBatch() ([]evaluator.Message, []threshold.Config) {
	msgs, _ := evaltest.Stream(100, 100, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	return msgs, evaltest.Configs(100)
}

// BenchmarkEvaluate: decode + validate + evaluate one 10,000-record batch of 100 devices with 3
// users each, through the service, with in-memory store and publisher.
func BenchmarkEvaluate(b *testing.B) {
	msgs, cfgs := benchBatch()
	ctx := context.Background()
	pub := &memPublisher{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		svc := evaluator.New(memstore.New(cfgs, nil), pub, memQuarantine{}, evaluator.Config{LoadConcurrency: 1}, nil, nil)
		out, _ := svc.Evaluate(ctx, msgs)
		if len(out.Retry) != 0 {
			b.Fatal("failures")
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(pub.n)/float64(b.N), "alerts/batch")
}

// stdReading is what a plain encoding/json decoder would fill.
type stdReading struct {
	DeviceID      string   `json:"device_id"`
	EventTime     string   `json:"event_time"`
	Temperature   *float64 `json:"temperature"`
	Humidity      *float64 `json:"humidity"`
	Light         *float64 `json:"light"`
	CO2           *float64 `json:"co2"`
	HumidityRatio *float64 `json:"humidity_ratio"`
	Occupancy     *float64 `json:"occupancy"`
	MsgID         string   `json:"msg_id"`
}

// BenchmarkStdlibDecode: encoding/json Unmarshal of the same records into a struct, nothing else.
func BenchmarkStdlibDecode(b *testing.B) {
	msgs, _ := benchBatch()
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuClock(b)()
	for i := 0; i < b.N; i++ {
		for j := range msgs {
			var r stdReading
			if err := json.Unmarshal(msgs[j].Data, &r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkStdlibDecodeDeclared is BenchmarkStdlibDecode of the batch with two declared metrics
// (declaredBatch), into a struct that has them: the baseline of the same bytes.
func BenchmarkStdlibDecodeDeclared(b *testing.B) {
	msgs, _ := declaredBatch(b)
	type declared struct {
		stdReading
		PM25   *float64 `json:"pm25"`
		PowerW *float64 `json:"power_w"`
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuClock(b)()
	for i := 0; i < b.N; i++ {
		for j := range msgs {
			var r declared
			if err := json.Unmarshal(msgs[j].Data, &r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "readings/s")
}

// allWideRules are the benchmark's configs with every second-edition rule on: hysteresis,
// silence, stuck sensor, anomaly and reminders.
func allWideRules(cfgs []threshold.Config) []threshold.Config {
	for i := range cfgs {
		c := &cfgs[i]
		c.TempHysteresis, c.LightHysteresis, c.TempZScore = threshold.Of(0.3), threshold.Of(20), threshold.Of(3)
		c.SilentSeconds, c.StuckSeconds, c.RemindSeconds = 900, 1800, 600
	}
	return cfgs
}

// everyMetricRows are the fleet's rows of one user: high, low, anomaly and stuck on
// temperature, humidity, CO2 and light, and silent, each with reminders: 17 rules in force for
// every device, on four metrics.
func everyMetricRows() []rule.Row {
	fleet := rule.Scope{Kind: rule.Fleet}
	var rows []rule.Row
	for _, m := range []struct {
		metric                     string
		high, highV, low, lowV, hy float64
	}{{"temperature", 24, 25.5, 18, 17, 0.3}, {"humidity", 60, 70, 25, 20, 2}, {"co2", 1000, 1500, 400, 350, 50}, {"light", 1000, 1500, 10, 5, 20}} {
		rows = append(rows,
			rule.Row{UserID: "ops", Scope: fleet, Metric: m.metric, Kind: rule.High, Warning: threshold.Of(m.high), Violation: threshold.Of(m.highV), Hysteresis: threshold.Of(m.hy), SustainSeconds: 60, RemindSeconds: 600},
			rule.Row{UserID: "ops", Scope: fleet, Metric: m.metric, Kind: rule.Low, Warning: threshold.Of(m.low), Violation: threshold.Of(m.lowV), Hysteresis: threshold.Of(m.hy), RemindSeconds: 600},
			rule.Row{UserID: "ops", Scope: fleet, Metric: m.metric, Kind: rule.Anomaly, Warning: threshold.Of(3), RemindSeconds: 600},
			rule.Row{UserID: "ops", Scope: fleet, Metric: m.metric, Kind: rule.Stuck, Warning: threshold.Of(1800), RemindSeconds: 600})
	}
	return append(rows, rule.Row{UserID: "ops", Scope: fleet, Kind: rule.Silent, Warning: threshold.Of(900), RemindSeconds: 600})
}

// BenchmarkEvaluateAllRules is BenchmarkEvaluate with rules on every built-in metric for every
// device: high, low, anomaly and stuck on temperature, humidity, CO2 and light, and silent,
// each with reminders (everyMetricRows: the fleet's rows, 17 rules in force a device). Its
// target: at least 2.5 times BenchmarkStdlibDecode's readings a second, in the same run.
func BenchmarkEvaluateAllRules(b *testing.B) {
	msgs, _ := benchBatch()
	benchEvaluate(b, msgs, nil, everyMetricRows())
}

// declaredBatch is the benchmark's batch with two declared metrics in every reading (pm25 and
// power_w: the temperature's and light's values moved), and their catalog.
func declaredBatch(b testing.TB) ([]evaluator.Message, *reading.Catalog) {
	msgs, _ := benchBatch()
	msgs = copyMetric(copyMetric(msgs, "temperature", "pm25"), "light", "power_w")
	cat, err := reading.NewCatalog([]reading.Declared{{Name: "pm25", Unit: "µg/m³", Min: 0, Max: 1000, Floor: 1}, {Name: "power_w", Unit: "W", Min: 0, Max: 100000, Floor: 5}})
	if err != nil {
		b.Fatal(err)
	}
	return msgs, cat
}

// BenchmarkEvaluateAllRulesDeclared is BenchmarkEvaluateAllRules with two declared metrics in
// every reading, validated and kept by the decoder (issue 24: at least 2.5 times
// BenchmarkStdlibDecode, which decodes the batch without them).
func BenchmarkEvaluateAllRulesDeclared(b *testing.B) {
	msgs, cat := declaredBatch(b)
	benchEvaluateWith(b, msgs, nil, everyMetricRows(), cat)
}

// BenchmarkEvaluateAllRulesOnDeclared is BenchmarkEvaluateAllRulesDeclared with the same rules
// on the two declared metrics too (high, low, anomaly, stuck): 25 rules a device.
func BenchmarkEvaluateAllRulesOnDeclared(b *testing.B) {
	msgs, cat := declaredBatch(b)
	benchEvaluateWith(b, msgs, nil, onDeclaredRows(), cat)
}

// onDeclaredRows are everyMetricRows and the same rules on the two declared metrics of
// declaredBatch (pm25 as temperature, power_w as light): 25 rules a device.
func onDeclaredRows() []rule.Row {
	rows := everyMetricRows()
	for _, r := range rows {
		switch r.Metric {
		case "temperature":
			r.Metric = "pm25"
		case "light":
			r.Metric = "power_w"
		default:
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

// BenchmarkEvaluateAllRulesAndWide is BenchmarkEvaluateAllRules with, besides, the three users'
// wide configs with every second-edition rule on (allWideRules): 29 rules a device.
func BenchmarkEvaluateAllRulesAndWide(b *testing.B) {
	msgs, cfgs := benchBatch()
	benchEvaluate(b, msgs, allWideRules(cfgs), everyMetricRows())
}

// BenchmarkEvaluateAllWideRules is the second edition's BenchmarkEvaluateAllRules: every
// second-edition rule on for every config, temperature and light only (kept to compare with).
func BenchmarkEvaluateAllWideRules(b *testing.B) {
	msgs, cfgs := benchBatch()
	benchEvaluate(b, msgs, allWideRules(cfgs), nil)
}

func benchEvaluate(b *testing.B, msgs []evaluator.Message, cfgs []threshold.Config, rows []rule.Row) {
	benchEvaluateWith(b, msgs, cfgs, rows, nil)
}

func benchEvaluateWith(b *testing.B, msgs []evaluator.Message, cfgs []threshold.Config, rows []rule.Row, cat *reading.Catalog) {
	ctx := context.Background()
	pub := &memPublisher{}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuClock(b)()
	for i := 0; i < b.N; i++ {
		store := memstore.New(cfgs, nil)
		if rows != nil {
			store.SetRules(nil, rows)
		}
		store.SetCatalog(cat)
		svc := evaluator.New(store, pub, memQuarantine{}, evaluator.Config{LoadConcurrency: 1}, nil, nil)
		out, _ := svc.Evaluate(ctx, msgs)
		if len(out.Retry) != 0 {
			b.Fatal("failures")
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(pub.n)/float64(b.N), "alerts/batch")
}
