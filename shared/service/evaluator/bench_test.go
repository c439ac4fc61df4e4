package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// memStore keeps everything in maps: the evaluation benchmark measures decode, validation and
// evaluation, not I/O.
type memStore struct {
	mu      sync.Mutex
	configs map[string][]threshold.Config
	states  map[string]alarm.DeviceState
}

func newMemStore(cfgs []threshold.Config) *memStore {
	s := &memStore{configs: map[string][]threshold.Config{}, states: map[string]alarm.DeviceState{}}
	for _, c := range cfgs {
		s.configs[c.DeviceID] = append(s.configs[c.DeviceID], c)
	}
	return s
}

func (s *memStore) LoadDevice(_ context.Context, id string) (evaluator.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return evaluator.Device{Configs: s.configs[id], State: s.states[id]}, nil
}

func (s *memStore) LoadStates(_ context.Context, ids []string) (map[string]alarm.DeviceState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]alarm.DeviceState, len(ids))
	for _, id := range ids {
		out[id] = s.states[id]
	}
	return out, nil
}

func (s *memStore) SaveState(_ context.Context, id string, st *alarm.DeviceState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states[id].Version != st.Version {
		return evaluator.ErrConflict
	}
	st.Version++
	s.states[id] = *st
	return nil
}

type memPublisher struct{ n int }

func (p *memPublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.n += len(ns)
	return make([]error, len(ns))
}

type memQuarantine struct{}

func (memQuarantine) Put(context.Context, string, []lake.Rejected) error { return nil }

// benchBatch is the benchmark's batch: 10,000 readings, 100 devices, 100 readings each, one a minute.
func benchBatch() (events.KinesisEvent, []threshold.Config) {
	ev, _ := stream(100, 100, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	return ev, streamConfigs(100)
}

// BenchmarkEvaluate: decode + validate + evaluate one 10,000-record batch of 100 devices with 3
// users each, through the handler, with in-memory store and publisher.
func BenchmarkEvaluate(b *testing.B) {
	ev, cfgs := benchBatch()
	ctx := context.Background()
	pub := &memPublisher{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := evaluator.New(newMemStore(cfgs), pub, memQuarantine{}, evaluator.Config{LoadConcurrency: 1, TopicFromPartitionKey: true}, nil, nil)
		resp, _ := h.Handle(ctx, ev)
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("failures")
		}
	}
	b.ReportMetric(float64(len(ev.Records)*b.N)/b.Elapsed().Seconds(), "readings/s")
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
	ev, _ := benchBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ev.Records {
			var r stdReading
			if err := json.Unmarshal(ev.Records[j].Kinesis.Data, &r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(ev.Records)*b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkHandler: the whole handler against the emulators, 1,000-record batches of 100 devices,
// first with a cold cache (every device uncached), then warm. Reports AWS requests per batch:
// reads should be the uncached devices (+1 BatchGetItem per 100 cached), writes one per changed
// device, SNS calls ceil(alerts/10). Its readings/s measures the emulators more than the handler.
func BenchmarkHandler(b *testing.B) {
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache_warm=%v", warm), func(b *testing.B) {
			e := newEnv(b, 0, 1, evaluator.DefaultConfig)
			cfgs := streamConfigs(100)
			if err := e.store.PutThresholds(context.Background(), cfgs); err != nil {
				b.Fatal(err)
			}
			round := func(i int) { // one batch of new data: times move on each round
				ev, _ := stream(100, 10, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i)*10*time.Minute))
				if resp, _ := e.h.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 {
					b.Fatal("failures")
				}
			}
			if warm {
				round(-1)
			}
			e.calls.Take()
			var reads, writes, sns, alerts, batches int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if !warm {
					e.h = e.handler(evaluator.DefaultConfig)
				}
				b.StartTimer()
				round(i)
				b.StopTimer()
				calls := e.callCounts[len(e.callCounts)-1]
				reads += calls["DynamoDB.Query"] + calls["DynamoDB.BatchGetItem"]
				writes += calls["DynamoDB.PutItem"]
				sns += awsclient.Service(calls, "SNS")
				for _, n := range e.stats[len(e.stats)-1].Alerts {
					alerts += n
				}
				batches++
				b.StartTimer()
			}
			b.ReportMetric(float64(reads)/float64(batches), "ddb-reads/batch")
			b.ReportMetric(float64(writes)/float64(batches), "ddb-writes/batch")
			b.ReportMetric(float64(sns)/float64(batches), "sns-calls/batch")
			b.ReportMetric(float64(alerts)/float64(batches), "alerts/batch")
			b.ReportMetric(float64(batches*1000)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}
