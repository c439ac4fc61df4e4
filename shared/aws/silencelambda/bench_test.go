package silencelambda_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/silencelambda"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// BenchmarkSilenceCheck runs the silence function over a fleet of which 1% is due, on the
// emulators (minidyn, goaws): the fleet's other devices have silences to come a year from now.
// Each run finds the due devices again (their reminders fall due every remind_seconds, and each
// run's clock is one reminder later), so every run does the same work. It reports the AWS
// requests per run, which must follow the due devices and not the fleet: 16 index Queries, then
// per due device one Query (its items) and one conditional PutItem, and the SNS publishes.
//
// It runs on dynalite (see awstest.Dynalite: minidyn reads a whole table for each Query), with
// 1,000 due devices in fleets of 10,000 and 100,000 (the requests must be the same), and 100 due
// in 100,000 (a tenth of them, less the 16 index Queries).
func BenchmarkSilenceCheck(outer *testing.B) {
	for _, tc := range []struct {
		emulator   string
		fleet, due int
	}{{"dynalite", 10_000, 1_000}, {"dynalite", 100_000, 1_000}, {"dynalite", 100_000, 100}} {
		var f *seededFleet // seeded once: the framework calls the function again with a larger b.N
		outer.Run(fmt.Sprintf("emulator=%s/fleet=%d/due=%d", tc.emulator, tc.fleet, tc.due), func(b *testing.B) {
			if f == nil { // the emulators live as long as the outer benchmark
				url := ""
				if tc.emulator == "dynalite" {
					url = awstest.Dynalite(outer)
				} else {
					url = awstest.DynamoDBServer(outer)
				}
				f = seed(b, newEnvOn(outer, url), tc.fleet, tc.due)
			}
			f.run(b)
		})
	}
}

// seededFleet is a fleet in an emulator, and the clock of its next run.
type seededFleet struct {
	e          *env
	fleet, due int
	clock      time.Time
}

const benchRemind = 300 // seconds: each run's clock is one reminder later

func seed(b *testing.B, e *env, fleet, due int) *seededFleet {
	ctx := context.Background()
	start := time.Now()
	var cfgs []threshold.Config
	for i := range due {
		cfgs = append(cfgs, threshold.Config{UserID: "ops", DeviceID: fmt.Sprintf("due-%06d", i), SilentSeconds: 600, RemindSeconds: benchRemind})
	}
	if err := e.store.PutThresholds(ctx, cfgs); err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range fleet {
		g.Go(func() error {
			id, at := fmt.Sprintf("due-%06d", i), t0.Add(600*time.Second)
			if i >= due {
				id, at = fmt.Sprintf("ok-%06d", i), t0.AddDate(1, 0, 0)
			}
			_, err := e.store.SaveState(ctx, id, evaluator.State{Alarm: alarm.DeviceState{Last: t0.UnixNano(), HasLast: true}, Due: at})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d devices (%d due) in %s", fleet, due, time.Since(start).Round(time.Millisecond))
	return &seededFleet{e: e, fleet: fleet, due: due, clock: t0.Add(600 * time.Second)}
}

func (f *seededFleet) run(b *testing.B) {
	e, ctx, due, fleet := f.e, context.Background(), f.due, f.fleet
	_ = e.calls.Take()
	total := map[string]int{}
	h := silencelambda.NewHandler(e.store, e.svc, func() time.Time { return f.clock }, io.Discard, func() map[string]int {
		m := e.calls.Take()
		for k, v := range m {
			total[k] += v
		}
		return m
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := h.Handle(ctx, events.EventBridgeEvent{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Due != due || res.Alerts != due {
			b.Fatalf("run %d: %+v; want %d due devices and as many alerts", i, res, due)
		}
		f.clock = f.clock.Add(benchRemind * time.Second)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(awsclient.Service(total, "DynamoDB"))/n, "dynamodb-requests/run")
	b.ReportMetric(float64(total["DynamoDB.Query"])/n, "queries/run")
	b.ReportMetric(float64(total["DynamoDB.PutItem"])/n, "putitems/run")
	b.ReportMetric(float64(awsclient.Service(total, "SNS"))/n, "sns-requests/run")
	b.ReportMetric(float64(due), "due-devices")
	b.ReportMetric(float64(fleet), "fleet")
}
