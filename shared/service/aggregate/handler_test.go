package aggregate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// recorder is a HourAggregator that records the hours asked of it and fails the ones listed.
type recorder struct {
	mu    sync.Mutex
	hours []string
	fail  map[string]bool
}

func (r *recorder) AggregateHour(_ context.Context, h aggregate.Hour) (aggregate.HourResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := h.Start.Format(aggregate.HourLayout)
	r.hours = append(r.hours, name)
	if h.ExpectedReadings != 60 {
		return aggregate.HourResult{}, errors.New("expected readings not 60")
	}
	if r.fail[name] {
		return aggregate.HourResult{}, errors.New("query FAILED: boom")
	}
	return aggregate.HourResult{Hour: h.Start, Rows: 10, BytesScanned: 1 << 20}, nil
}

func TestHoursOfPayloads(t *testing.T) {
	cfg := aggregate.DefaultConfig
	tests := []struct {
		name    string
		payload string
		want    string
		err     string
	}{
		{"scheduled at 07:05 aggregates 06 and the two before", `{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-03-01T07:05:00Z"}`, "2026-03-01T04 2026-03-01T05 2026-03-01T06", ""},
		{"scheduled at 00:00 crosses midnight", `{"detail-type":"Scheduled Event","time":"2026-03-01T00:00:00Z"}`, "2026-02-28T21 2026-02-28T22 2026-02-28T23", ""},
		{"backfill is [from, to)", `{"from":"2026-03-01T00","to":"2026-03-01T03"}`, "2026-03-01T00 2026-03-01T01 2026-03-01T02", ""},
		{"backfill across a month", `{"from":"2026-02-28T23","to":"2026-03-01T01"}`, "2026-02-28T23 2026-03-01T00", ""},
		{"to before from", `{"from":"2026-03-01T05","to":"2026-03-01T03"}`, "", "2026-03-01T03 is not after 2026-03-01T05"},
		{"bad hour", `{"from":"2026-03-01 05:00","to":"2026-03-01T06"}`, "", `from: "2026-03-01 05:00" is not an hour as YYYY-MM-DDTHH`},
		{"missing to", `{"from":"2026-03-01T05"}`, "", "to: "},
		{"too long", `{"from":"2026-01-01T00","to":"2026-03-01T00"}`, "", "at most 12"},
		{"unknown", `{"hello":"world"}`, "", "unrecognized payload"},
		{"not json", `[1,2]`, "", "not a JSON object"},
		{"bad scheduled time", `{"detail-type":"Scheduled Event","time":"yesterday"}`, "", "scheduled event time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hours, err := cfg.Hours([]byte(tc.payload))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Hours(%s) error = %v; want %q", tc.payload, err, tc.err)
				}
				return
			}
			var got []string
			for _, h := range hours {
				got = append(got, h.Format(aggregate.HourLayout))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("Hours(%s) = %v; want %s", tc.payload, got, tc.want)
			}
		})
	}
}

func TestSampleEventsThroughLambda(t *testing.T) {
	for _, tc := range []struct {
		file  string
		hours int
	}{{"../../../events/scheduled-hourly.json", 3}, {"../../../events/aggregate-backfill.json", 6}} {
		payload, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		var metrics bytes.Buffer
		h := aggregate.NewHandler(rec, aggregate.DefaultConfig, nil, &metrics)
		out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		var res aggregate.Result
		if err := json.Unmarshal(out, &res); err != nil || len(res.Hours) != tc.hours || res.Rows != int64(10*tc.hours) {
			t.Errorf("%s: result %s, %v", tc.file, out, err)
		}
		if !strings.Contains(metrics.String(), `"HoursAggregated":`+string(rune('0'+tc.hours))) {
			t.Errorf("%s: metrics %s", tc.file, metrics.String())
		}
	}
}

func TestFailedHourFailsTheInvocation(t *testing.T) {
	rec := &recorder{fail: map[string]bool{"2026-03-01T05": true}}
	var metrics bytes.Buffer
	h := aggregate.NewHandler(rec, aggregate.DefaultConfig, nil, &metrics)
	res, err := h.Handle(context.Background(), []byte(`{"from":"2026-03-01T04","to":"2026-03-01T07"}`))
	if err == nil || !strings.Contains(err.Error(), "1 of 3 hours failed") || !strings.Contains(err.Error(), "hour 2026-03-01T05: query FAILED: boom") {
		t.Fatalf("error = %v", err)
	}
	if len(res.Hours) != 2 || len(rec.hours) != 3 {
		t.Errorf("result %+v after asking %v", res, rec.hours)
	}
	if !strings.Contains(metrics.String(), `"HoursFailed":1`) {
		t.Errorf("metrics %s", metrics.String())
	}

}

// queries records the statements an Athena aggregator runs, failing the one named.
type queries struct {
	ran  []string
	fail string
}

func (q *queries) Run(_ context.Context, st aggregate.Statement) (aggregate.QueryStats, error) {
	q.ran = append(q.ran, st.SQL)
	if st.Name == q.fail {
		return aggregate.QueryStats{}, errors.New("query FAILED: boom")
	}
	return aggregate.QueryStats{BytesScanned: 10 << 20}, nil
}

// TestDailyMaintenance: {"maintain": true} compacts then vacuums each Iceberg table, and only
// that; a failure stops it and fails the invocation; an engine without Iceberg refuses it.
func TestDailyMaintenance(t *testing.T) {
	q := &queries{}
	cfg := aggregate.DefaultConfig
	cfg.Now = func() time.Time { return time.Date(2026, 3, 10, 3, 35, 0, 0, time.UTC) } // the schedule's time
	h := aggregate.NewHandler(aggregate.NewAthena(q, "iotwatch", "lake-bucket"), cfg, nil, io.Discard)
	payload, err := os.ReadFile("../../../events/scheduled-maintenance.json") // the schedule's input, as Lambda hands it over
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var res aggregate.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	var want, creates []string
	for _, st := range aggregate.TableStatements("iotwatch", "lake-bucket") {
		creates = append(creates, st.SQL) // the tables are made first, if the hourly runs have not yet
	}
	for _, c := range aggregate.ColumnStatements("iotwatch") {
		creates = append(creates, c[0].SQL) // the probe of each added column finds it: no ALTER
	}
	for _, tc := range [][2]string{{"silver_readings", "event_time"}, {"hourly_metrics", "hour_start"}, {"daily_metrics", "day_start"},
		{"dq_hourly", "hour_start"}, {"location_hourly", "hour_start"}, {"hourly_metric_values", "hour_start"}, {"daily_metric_values", "day_start"}} {
		// the day of the run (2026-03-10) and the two before only: the cost of three days, not of the history
		want = append(want, "OPTIMIZE iotwatch."+tc[0]+" REWRITE DATA USING BIN_PACK WHERE "+tc[1]+" >= TIMESTAMP '2026-03-08 00:00:00'", "VACUUM iotwatch."+tc[0])
	}
	if fmt.Sprint(q.ran) != fmt.Sprint(append(creates, want...)) || fmt.Sprint(res.Maintained) != fmt.Sprint(want) || len(res.Hours) != 0 {
		t.Errorf("ran %q, result %+v; want %q and no hour", q.ran, res, want)
	}
	// after a backfill: its days too, on request; a day that is not one is refused, nothing run
	q = &queries{}
	h = aggregate.NewHandler(aggregate.NewAthena(q, "iotwatch", "lake-bucket"), cfg, nil, io.Discard)
	if res, err := h.Handle(context.Background(), []byte(`{"maintain":true,"since":"2025-12-01"}`)); err != nil ||
		!strings.HasSuffix(res.Maintained[0], "WHERE event_time >= TIMESTAMP '2025-12-01 00:00:00'") {
		t.Errorf("since 2025-12-01: %v, %q", err, res.Maintained)
	}
	q = &queries{}
	h = aggregate.NewHandler(aggregate.NewAthena(q, "iotwatch", "lake-bucket"), cfg, nil, io.Discard)
	if _, err := h.Handle(context.Background(), []byte(`{"maintain":true,"since":"2025-12-01T00"}`)); err == nil || !strings.Contains(err.Error(), "want a UTC day") || len(q.ran) != 0 {
		t.Errorf("since 2025-12-01T00: %v after %q", err, q.ran)
	}
	q = &queries{fail: "optimize hourly_metrics"}
	h = aggregate.NewHandler(aggregate.NewAthena(q, "iotwatch", "lake-bucket"), aggregate.DefaultConfig, nil, io.Discard)
	if _, err := h.Handle(context.Background(), []byte(aggregate.MaintainPayload)); err == nil || !strings.Contains(err.Error(), "optimize hourly_metrics: query FAILED") || len(q.ran) != len(creates)+3 {
		t.Errorf("err %v after %q", err, q.ran)
	}
	h = aggregate.NewHandler(&recorder{}, aggregate.DefaultConfig, nil, io.Discard)
	if _, err := h.Handle(context.Background(), []byte(aggregate.MaintainPayload)); err == nil {
		t.Error("an aggregator without Iceberg tables maintained them")
	}
	if _, err := h.Handle(context.Background(), []byte(`{"maintain":false}`)); err == nil || !strings.Contains(err.Error(), "unrecognized payload") {
		t.Errorf("maintain false: %v", err)
	}
}

// dayRecorder also aggregates days.
type dayRecorder struct {
	recorder
	days []string
}

func (r *dayRecorder) AggregateDay(_ context.Context, d aggregate.Day) (aggregate.HourResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.days = append(r.days, d.Start.Format(aggregate.DayFormat))
	if d.ExpectedReadings != 60 {
		return aggregate.HourResult{}, errors.New("expected readings not 60")
	}
	return aggregate.HourResult{Hour: d.Start}, nil
}

// TestDaysAreWrittenOnceTheirLateWindowHasPassed: the scheduled runs write a day's daily_metrics
// once, in the first run for which the day and its late window are over; a backfill rewrites the
// finished days it touched; a day with a failed hour waits.
func TestDaysAreWrittenOnceTheirLateWindowHasPassed(t *testing.T) {
	day := func(now string, payload string, fail ...string) ([]string, error) {
		rec := &dayRecorder{recorder: recorder{fail: map[string]bool{}}}
		for _, f := range fail {
			rec.fail[f] = true
		}
		cfg := aggregate.DefaultConfig
		cfg.MaxHours = 168 // the backfills below cross days
		at, _ := time.Parse(time.RFC3339, now)
		cfg.Now = func() time.Time { return at }
		res, err := aggregate.NewHandler(rec, cfg, nil, nil).Handle(context.Background(), []byte(payload))
		if fmt.Sprint(res.Days) != fmt.Sprint(rec.days) && len(rec.days) > 0 {
			t.Errorf("result days %v, aggregated %v", res.Days, rec.days)
		}
		return rec.days, err
	}
	sched := func(at string) string { return `{"detail-type":"Scheduled Event","time":"` + at + `"}` }
	written := map[string][]string{}
	for h := 0; h < 48; h++ { // two days of scheduled runs, five past each hour
		at := time.Date(2026, 3, 1, 0, 5, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour).Format(time.RFC3339)
		days, err := day(at, sched(at))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			written[d] = append(written[d], at[11:16])
		}
	}
	// a day is first written at 02:05 the next day (its last hour's last late window), then
	// rewritten by every run while it is the latest day over: until 01:05 the day after
	var next []string
	for h := 2; h < 24; h++ {
		next = append(next, fmt.Sprintf("%02d:05", h))
	}
	whole := append(append([]string{}, next...), "00:05", "01:05")
	if fmt.Sprint(written["2026-02-28"]) != fmt.Sprint(whole) || fmt.Sprint(written["2026-03-01"]) != fmt.Sprint(next) ||
		fmt.Sprint(written["2026-02-27"]) != "[00:05 01:05]" || len(written) != 3 {
		t.Errorf("days written %v; want 2026-02-28 by the runs %v, 2026-03-01 by %v", written, whole, next)
	}
	// a late window longer than a day: yesterday is the latest day over, not the calendar's
	{
		rec := &dayRecorder{recorder: recorder{fail: map[string]bool{}}}
		cfg := aggregate.DefaultConfig
		cfg.LateHours = 30
		cfg.Now = func() time.Time { return time.Date(2026, 3, 3, 7, 5, 0, 0, time.UTC) }
		if _, err := aggregate.NewHandler(rec, cfg, nil, nil).Handle(context.Background(), []byte(sched("2026-03-03T07:05:00Z"))); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rec.days) != "[2026-03-01]" {
			t.Errorf("late window of 30 h: days %v; want 2026-03-01 (over at 03-03 06:00)", rec.days)
		}
	}
	days, err := day("2026-03-10T00:00:00Z", `{"from":"2026-03-01T20","to":"2026-03-03T01"}`)
	if err != nil || fmt.Sprint(days) != "[2026-03-01 2026-03-02 2026-03-03]" {
		t.Errorf("backfill days %v, %v", days, err)
	}
	days, err = day("2026-03-03T01:00:00Z", `{"from":"2026-03-01T20","to":"2026-03-03T01"}`)
	if err != nil || fmt.Sprint(days) != "[2026-03-01]" {
		t.Errorf("backfill of a day not over: days %v, %v", days, err)
	}
	days, err = day("2026-03-10T00:00:00Z", `{"from":"2026-03-01T20","to":"2026-03-03T01"}`, "2026-03-02T07")
	if err == nil || fmt.Sprint(days) != "[2026-03-01 2026-03-03]" {
		t.Errorf("a day with a failed hour: days %v, %v", days, err)
	}
}

// prefixes is an ObjectLister over a set of keys' prefixes.
type prefixes map[string]bool

func (p prefixes) Any(_ context.Context, prefix string) (bool, error) { return p[prefix], nil }

// TestEmptyHoursRunNoQuery: with SkipEmptyHours, an hour without a bronze object runs no Athena
// statement; one with objects runs its ten.
func TestEmptyHoursRunNoQuery(t *testing.T) {
	q := &queries{}
	a := aggregate.NewAthena(q, "iotwatch", "lake").SkipEmptyHours(prefixes{"bronze/dt=2026-03-01/hour=05/": true})
	cfg := aggregate.DefaultConfig
	cfg.Now = func() time.Time { return time.Date(2026, 3, 1, 7, 5, 0, 0, time.UTC) }
	res, err := aggregate.NewHandler(a, cfg, nil, io.Discard).Handle(context.Background(), []byte(`{"detail-type":"Scheduled Event","time":"2026-03-01T07:05:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hours) != 3 {
		t.Errorf("hours %v; want the three, the empty ones done", res.Hours)
	}
	var writes int
	for _, sql := range q.ran {
		if strings.Contains(sql, "daily_metric") {
			continue // yesterday's day, rewritten by every scheduled run
		}
		if strings.HasPrefix(sql, "DELETE") || strings.HasPrefix(sql, "INSERT") {
			writes++
			if !strings.Contains(sql, "CREATE") && strings.HasPrefix(sql, "DELETE") && !strings.Contains(sql, "2026-03-01 05:00:00") {
				t.Errorf("a statement of an empty hour: %s", sql)
			}
		}
	}
	if writes != 10 {
		t.Errorf("%d DELETE and INSERT statements; want the 10 of hour 05", writes)
	}
}

// lease records the holders of a Locker.
type lease struct {
	mu     sync.Mutex
	events []string
	fail   error
}

func (l *lease) Acquire(_ context.Context, owner string) (func(context.Context) error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	l.events = append(l.events, "acquire "+owner)
	return func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, "release "+owner)
		return nil
	}, nil
}

// TestAnInvocationHoldsTheLease: the hours and the maintenance run inside the lease, given back
// after; an invocation that cannot take it writes nothing and fails (Lambda retries it).
func TestAnInvocationHoldsTheLease(t *testing.T) {
	l := &lease{}
	rec := &recorder{}
	h := aggregate.NewHandler(rec, aggregate.DefaultConfig, nil, nil).WithLock(l, func(context.Context) string { return "req-1" })
	if _, err := h.Handle(context.Background(), []byte(`{"from":"2026-03-01T04","to":"2026-03-01T06"}`)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(l.events) != "[acquire req-1 release req-1]" || len(rec.hours) != 2 {
		t.Errorf("lease %v, hours %v", l.events, rec.hours)
	}
	l = &lease{fail: errors.New("another holder keeps the lease")}
	rec = &recorder{}
	h = aggregate.NewHandler(rec, aggregate.DefaultConfig, nil, nil).WithLock(l, nil)
	if _, err := h.Handle(context.Background(), []byte(`{"from":"2026-03-01T04","to":"2026-03-01T06"}`)); err == nil || !strings.Contains(err.Error(), "waiting for the aggregation that runs") || len(rec.hours) != 0 {
		t.Errorf("without the lease: %v, hours %v", err, rec.hours)
	}
}

// TestProgressCountsEveryHour: Progress hears of each hour once, failed ones included, with the
// run's total.
func TestProgressCountsEveryHour(t *testing.T) {
	q := &queries{}
	a := aggregate.NewAthena(q, "iotwatch", "lake").SkipEmptyHours(prefixes{"bronze/dt=2026-03-01/hour=05/": true})
	cfg := aggregate.DefaultConfig
	var calls [][2]int
	cfg.Progress = func(done, total int) { calls = append(calls, [2]int{done, total}) }
	h0 := time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)
	hours := []time.Time{h0, h0.Add(time.Hour), h0.Add(2 * time.Hour), h0.Add(3 * time.Hour)}
	if _, err := aggregate.NewHandler(a, cfg, nil, io.Discard).Run(context.Background(), hours); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{1, 4}, {2, 4}, {3, 4}, {4, 4}}; !slices.Equal(calls, want) {
		t.Errorf("progress %v; want %v", calls, want)
	}
}
