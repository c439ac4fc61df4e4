package athenaquery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/iotwatch/iotwatch/shared/aws/athenaquery"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// fakeAthena speaks the Athena JSON protocol: a query runs for `polls` GetQueryExecution calls,
// then ends in `final` (with `reason`); the first `throttle` StartQueryExecution calls are throttled.
type fakeAthena struct {
	polls    int
	final    string
	reason   string
	throttle int

	mu        sync.Mutex
	started   []map[string]any
	gets      []time.Time
	stopped   []string
	throttled int
}

func (f *fakeAthena) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	reply := func(status int, v any) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonAthena.StartQueryExecution":
		if f.throttled < f.throttle {
			f.throttled++
			reply(400, map[string]string{"__type": "TooManyRequestsException", "message": "Rate exceeded"})
			return
		}
		f.started = append(f.started, in)
		reply(200, map[string]string{"QueryExecutionId": fmt.Sprintf("q-%d", len(f.started))})
	case "AmazonAthena.GetQueryExecution":
		f.gets = append(f.gets, time.Now())
		state, reason := "RUNNING", ""
		if len(f.gets) > f.polls {
			state, reason = f.final, f.reason
		}
		reply(200, map[string]any{"QueryExecution": map[string]any{
			"QueryExecutionId": in["QueryExecutionId"],
			"Status":           map[string]any{"State": state, "StateChangeReason": reason},
			"Statistics":       map[string]any{"DataScannedInBytes": 123456, "EngineExecutionTimeInMillis": 900, "TotalExecutionTimeInMillis": 1100},
		}})
	case "AmazonAthena.StopQueryExecution":
		f.stopped = append(f.stopped, in["QueryExecutionId"].(string))
		reply(200, map[string]any{})
	default:
		reply(400, map[string]string{"__type": "InvalidRequestException", "message": "unexpected " + r.Header.Get("X-Amz-Target")})
	}
}

func newRunner(t *testing.T, f *fakeAthena) *athenaquery.Runner {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	r := athenaquery.New(athena.NewFromConfig(awstest.Config(srv.URL)), "iotwatch", "iotwatch_lake")
	r.FirstPoll, r.MaxPoll, r.Timeout = time.Millisecond, 8*time.Millisecond, 5*time.Second
	return r
}

var hour7 = aggregate.Hour{Start: time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC), ExpectedReadings: 60}

func TestRunner(t *testing.T) {
	sts, err := aggregate.AthenaStatements("iotwatch_lake", hour7)
	if err != nil {
		t.Fatal(err)
	}
	insert := sts[1]
	tests := []struct {
		name    string
		fake    *fakeAthena
		timeout time.Duration
		err     string
		stopped bool
	}{
		{"succeeds", &fakeAthena{polls: 0, final: "SUCCEEDED"}, 0, "", false},
		{"slow query is polled with backoff", &fakeAthena{polls: 6, final: "SUCCEEDED"}, 0, "", false},
		{"throttled start is retried", &fakeAthena{polls: 1, final: "SUCCEEDED", throttle: 2}, 0, "", false},
		{"failed says why", &fakeAthena{polls: 1, final: "FAILED", reason: "COLUMN_NOT_FOUND: line 3:5: Column 'lin' cannot be resolved"}, 0, "silver insert (query q-1) failed: COLUMN_NOT_FOUND", false},
		{"cancelled", &fakeAthena{polls: 0, final: "CANCELLED", reason: "cancelled by user"}, 0, "was cancelled: cancelled by user", false},
		{"time-out stops the query", &fakeAthena{polls: 1 << 30, final: "SUCCEEDED"}, 30 * time.Millisecond, "still running after 30ms: stopped", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fake
			r := newRunner(t, f)
			if tc.timeout > 0 {
				r.Timeout = tc.timeout
			}
			stats, err := r.Run(context.Background(), insert)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Run error = %v; want %q", err, tc.err)
			}
			if tc.stopped != (len(f.stopped) == 1) {
				t.Errorf("stopped = %v", f.stopped)
			}
			if len(f.started) != 1 {
				t.Fatalf("%d queries started; want 1", len(f.started))
			}
			in := f.started[0]
			if in["WorkGroup"] != "iotwatch" || in["QueryExecutionContext"].(map[string]any)["Database"] != "iotwatch_lake" {
				t.Errorf("start input = %v", in)
			}
			params, _ := in["ExecutionParameters"].([]any)
			var got []string
			for _, p := range params {
				got = append(got, p.(string))
			}
			want := "'2026-03-01' '07' '2026-03-01' '07' 1772348400000 1772352000000 '2026-03-01' '07'"
			if strings.Join(got, " ") != want {
				t.Errorf("ExecutionParameters = %v; want %s", got, want)
			}
			if in["QueryString"] != insert.SQL {
				t.Errorf("the query text was changed on the way")
			}
			if tc.err == "" && (stats.BytesScanned != 123456 || stats.TotalTime != 1100*time.Millisecond) {
				t.Errorf("stats = %+v", stats)
			}
			if tc.name == "slow query is polled with backoff" {
				gaps := []time.Duration{}
				for i := 1; i < len(f.gets); i++ {
					gaps = append(gaps, f.gets[i].Sub(f.gets[i-1]))
				}
				if len(gaps) < 5 || gaps[len(gaps)-1] < 4*time.Millisecond {
					t.Errorf("polls came %v apart; want growing waits up to MaxPoll", gaps)
				}
			}
		})
	}
}

// TestAthenaAggregatorRunsDeleteThenInsert: the first run creates the Iceberg tables (once per
// process), then each layer of the hour is a DELETE without parameters and an INSERT, silver first.
func TestAthenaAggregatorRunsDeleteThenInsert(t *testing.T) {
	f := &fakeAthena{final: "SUCCEEDED"}
	a := aggregate.NewAthena(newRunner(t, f), "iotwatch_lake", "lake-bucket")
	for run := 0; run < 2; run++ {
		res, err := a.AggregateHour(context.Background(), hour7)
		if err != nil {
			t.Fatal(err)
		}
		if res.BytesScanned != 10*123456 {
			t.Errorf("bytes scanned = %d", res.BytesScanned)
		}
	}
	var got []string
	for _, in := range f.started {
		q := in["QueryString"].(string)
		words := strings.Fields(q)
		switch words[0] {
		case "CREATE":
			got = append(got, "create "+words[5])
		case "DELETE":
			if _, hasParams := in["ExecutionParameters"]; hasParams {
				t.Errorf("DELETE was sent with ExecutionParameters, which Athena refuses")
			}
			got = append(got, "delete "+words[2])
		case "INSERT":
			got = append(got, "insert "+words[2])
		case "SELECT":
			got = append(got, "probe "+words[3]) // a column added since the first deployment
		}
	}
	hour := "delete iotwatch_lake.silver_readings insert iotwatch_lake.silver_readings delete iotwatch_lake.hourly_metrics insert iotwatch_lake.hourly_metrics " +
		"delete iotwatch_lake.dq_hourly insert iotwatch_lake.dq_hourly delete iotwatch_lake.location_hourly insert iotwatch_lake.location_hourly " +
		"delete iotwatch_lake.hourly_metric_values insert iotwatch_lake.hourly_metric_values"
	want := "create iotwatch_lake.silver_readings create iotwatch_lake.hourly_metrics create iotwatch_lake.daily_metrics create iotwatch_lake.dq_hourly create iotwatch_lake.location_hourly " +
		"create iotwatch_lake.hourly_metric_values create iotwatch_lake.daily_metric_values probe iotwatch_lake.silver_readings " + hour + " " + hour
	if strings.Join(got, " ") != want {
		t.Errorf("statements run:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}
