package evaluator_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
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

// BenchmarkEvaluateAllRules is BenchmarkEvaluate with every second-edition rule on for every
// config: hysteresis, silence, stuck sensor, anomaly and reminders.
func BenchmarkEvaluateAllRules(b *testing.B) {
	msgs, cfgs := benchBatch()
	for i := range cfgs {
		c := &cfgs[i]
		c.TempHysteresis, c.LightHysteresis, c.TempZScore = threshold.Of(0.3), threshold.Of(20), threshold.Of(3)
		c.SilentSeconds, c.StuckSeconds, c.RemindSeconds = 900, 1800, 600
	}
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
