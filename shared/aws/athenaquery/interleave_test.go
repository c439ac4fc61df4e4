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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/athenaquery"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// workgroup is a fake of Athena's JSON API that keeps every query's state: a query runs until its
// time has passed (INSERTs of the hour 2026-03-01T07 take `slow`), or until stopped, unless
// `deaf` (a stop that never arrives). It records the order of starts, stops and ends.
type workgroup struct {
	slow time.Duration
	deaf bool

	mu     sync.Mutex
	qs     map[string]*fakeQuery
	order  []string
	events []string
}

type fakeQuery struct {
	sql   string
	until time.Time
	state string
}

func (w *workgroup) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	w.mu.Lock()
	defer w.mu.Unlock()
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	reply := func(v any) { json.NewEncoder(rw).Encode(v) }
	now := time.Now()
	state := func(id string) map[string]any {
		q := w.qs[id]
		if q.state == "RUNNING" && now.After(q.until) {
			q.state = "SUCCEEDED"
			w.events = append(w.events, "end "+name(q.sql))
		}
		return map[string]any{"QueryExecutionId": id, "Query": q.sql, "Status": map[string]any{"State": q.state}, "Statistics": map[string]any{"DataScannedInBytes": 1}}
	}
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonAthena.StartQueryExecution":
		id := fmt.Sprintf("q-%d", len(w.order)+1)
		sql := in["QueryString"].(string)
		q := &fakeQuery{sql: sql, until: now, state: "RUNNING"}
		if strings.HasPrefix(sql, "INSERT") {
			q.until = now.Add(w.slow)
		}
		w.qs[id] = q
		w.order = append(w.order, id)
		w.events = append(w.events, "start "+name(sql))
		reply(map[string]string{"QueryExecutionId": id})
	case "AmazonAthena.GetQueryExecution":
		reply(map[string]any{"QueryExecution": state(in["QueryExecutionId"].(string))})
	case "AmazonAthena.ListQueryExecutions":
		ids := make([]string, len(w.order))
		for i := range w.order { // newest first, as Athena lists them
			ids[i] = w.order[len(w.order)-1-i]
		}
		// pages of MaxResults, the token the index of the next
		from := 0
		if tok, ok := in["NextToken"].(string); ok {
			fmt.Sscan(tok, &from)
		}
		size := 50
		if m, ok := in["MaxResults"].(float64); ok {
			size = int(m)
		}
		out := map[string]any{"QueryExecutionIds": ids[min(from, len(ids)):min(from+size, len(ids))]}
		if from+size < len(ids) {
			out["NextToken"] = fmt.Sprint(from + size)
		}
		reply(out)
	case "AmazonAthena.BatchGetQueryExecution":
		var out []any
		for _, id := range in["QueryExecutionIds"].([]any) {
			out = append(out, state(id.(string)))
		}
		reply(map[string]any{"QueryExecutions": out})
	case "AmazonAthena.StopQueryExecution":
		id := in["QueryExecutionId"].(string)
		q := w.qs[id]
		w.events = append(w.events, "stop "+name(q.sql))
		if !w.deaf && q.state == "RUNNING" {
			q.state = "CANCELLED"
		}
		reply(map[string]any{})
	default:
		rw.WriteHeader(400)
		reply(map[string]string{"__type": "InvalidRequestException", "message": "unexpected " + r.Header.Get("X-Amz-Target")})
	}
}

// name is a statement's first words: "INSERT INTO db.silver_readings".
func name(sql string) string {
	f := strings.Fields(sql)
	if f[0] == "CREATE" {
		return "CREATE"
	}
	return f[0] + " " + f[len(f[0:3])-1]
}

// TestARetryNeverOverlapsAnEarlierWrite: an invocation that runs out of time stops its INSERT;
// one whose stop did not arrive leaves the INSERT running, and the next invocation (the retry)
// stops it and waits for it to end before it deletes anything, so an hour is never written twice.
func TestARetryNeverOverlapsAnEarlierWrite(t *testing.T) {
	for _, deaf := range []bool{false, true} {
		t.Run(fmt.Sprintf("the stop arrives: %v", !deaf), func(t *testing.T) {
			w := &workgroup{slow: time.Hour, deaf: deaf, qs: map[string]*fakeQuery{}}
			srv := httptest.NewServer(w)
			defer srv.Close()
			r := athenaquery.New(athena.NewFromConfig(awstest.Config(srv.URL)), "iotwatch", "iotwatch_lake")
			r.FirstPoll, r.MaxPoll, r.Timeout = time.Millisecond, 5*time.Millisecond, 2*time.Second
			cfg := aggregate.DefaultConfig
			cfg.Concurrency = 1
			h := aggregate.NewHandler(aggregate.NewAthena(r, "iotwatch_lake", "lake"), cfg, nil, io.Discard)
			payload := []byte(`{"from":"2026-03-01T07","to":"2026-03-01T08"}`)

			// The first invocation's deadline comes while its silver INSERT runs.
			ctx, cancel := context.WithTimeout(context.Background(), aggregate.StopMargin+300*time.Millisecond)
			_, err := h.Handle(ctx, payload)
			cancel()
			require.Error(t, err)
			w.mu.Lock()
			first := len(w.events)
			assert.Contains(t, w.events, "stop INSERT iotwatch_lake.silver_readings", "the timed-out INSERT is stopped")
			w.slow = 0 // the retry's queries end at once, except the one left running
			if deaf {
				// the stop never arrived: the old INSERT ends only some time later
				for _, q := range w.qs {
					if q.state == "RUNNING" {
						q.until = time.Now().Add(200 * time.Millisecond)
					}
				}
			}
			w.mu.Unlock()

			// The retry: a new process (the tables are checked again), the same hour.
			h = aggregate.NewHandler(aggregate.NewAthena(r, "iotwatch_lake", "lake"), cfg, nil, io.Discard)
			_, err = h.Handle(context.Background(), payload)
			require.NoError(t, err)
			w.mu.Lock()
			defer w.mu.Unlock()
			retry := w.events[first:]
			firstDelete := -1
			for i, e := range retry {
				if strings.HasPrefix(e, "start DELETE") {
					firstDelete = i
					break
				}
			}
			require.GreaterOrEqual(t, firstDelete, 0, "the retry deleted nothing: %v", retry)
			for _, q := range w.qs {
				if strings.HasPrefix(q.sql, "INSERT") && q.state == "RUNNING" {
					t.Errorf("an INSERT still runs after the retry: %s", name(q.sql))
				}
			}
			if deaf {
				// the orphan was stopped again and waited for: it ended before the retry's first DELETE
				end := -1
				for i, e := range retry {
					if e == "end INSERT iotwatch_lake.silver_readings" {
						end = i
						break
					}
				}
				assert.True(t, end >= 0 && end < firstDelete, "the earlier INSERT ended (%d) before the retry deleted (%d): %v", end, firstDelete, retry)
				assert.Contains(t, retry[:firstDelete], "stop INSERT iotwatch_lake.silver_readings")
			}
		})
	}
}

// TestStopWritesLooksPastTheFirstPage: an orphaned INSERT behind 60 newer queries (people's, in
// the same workgroup) is on the second page of the listing, and still found and stopped; a
// running query of someone else is left alone.
func TestStopWritesLooksPastTheFirstPage(t *testing.T) {
	w := &workgroup{qs: map[string]*fakeQuery{}}
	add := func(sql, state string) {
		id := fmt.Sprintf("q-%d", len(w.order)+1)
		w.qs[id] = &fakeQuery{sql: sql, state: state, until: time.Now().Add(time.Hour)}
		w.order = append(w.order, id)
	}
	add("INSERT INTO iotwatch_lake.silver_readings\nSELECT 1", "RUNNING")
	for i := 0; i < 60; i++ {
		add("SELECT count(*) FROM iotwatch_lake.hourly_metrics", "SUCCEEDED")
	}
	add("SELECT * FROM iotwatch_lake.silver_readings -- a long Grafana query", "RUNNING")
	srv := httptest.NewServer(w)
	defer srv.Close()
	r := athenaquery.New(athena.NewFromConfig(awstest.Config(srv.URL)), "iotwatch", "iotwatch_lake")
	r.FirstPoll, r.MaxPoll, r.Timeout = time.Millisecond, 5*time.Millisecond, 2*time.Second
	n, err := r.StopWrites(context.Background(), []string{"INSERT INTO iotwatch_lake.silver_readings\n", "DELETE FROM iotwatch_lake.silver_readings "})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, "CANCELLED", w.qs["q-1"].state, "the orphaned INSERT")
	assert.Equal(t, "RUNNING", w.qs["q-62"].state, "someone else's query")
}
