package runner_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// messages publishes each message on its topic.
type messages []simulate.Message

func (m *messages) Next() (simulate.Message, error) {
	if len(*m) == 0 {
		return simulate.Message{}, io.EOF
	}
	next := (*m)[0]
	*m = (*m)[1:]
	return next, nil
}

// TestLakeCountsWhatTheEvaluationAccepts: readings the evaluation rejects for what their line
// alone cannot show (sent on another device's topic, over 16 KiB, from the future) land in
// bronze but are not counted in the hourly metrics; nor are repeated names or clock faults.
func TestLakeCountsWhatTheEvaluationAccepts(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	engine, err := duckdbengine.Open(context.Background(), lakeDir)
	require.NoError(t, err)
	defer engine.Close()
	p := start(t, lakeDir, th, func(c *runner.Config) { c.Aggregator = engine })

	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	at := func(min int) string { return hour.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	line := func(dev, when string, temp float64, extra string) []byte {
		return fmt.Appendf(nil, `{"device_id":%q,"event_time":%q,"temperature":%g%s}`, dev, when, temp, extra)
	}
	on := func(dev string, payload []byte) simulate.Message {
		return simulate.Message{Topic: "devices/" + dev + "/readings", Payload: payload}
	}
	future := now.Add(time.Hour) // an hour ahead of arrival: future_event_time, in the next hour's partition
	msgs := messages{
		on("room-1", line("room-1", at(0), 21, "")),                                                                       // counted
		on("room-1", line("room-1", at(1), 22, "")),                                                                       // counted
		on("room-2", line("room-1", at(2), 40, "")),                                                                       // device_mismatch
		on("room-1", line("room-1", at(3), 41, `,"pad":"`+strings.Repeat("x", 17*1024)+`"`)),                              // too_large
		on("room-1", line("room-1", future.Format(time.RFC3339), 42, "")),                                                 // future_event_time
		on("room-1", fmt.Appendf(nil, `{"device_id":"room-1","event_time":%q,"temperature":43,"temperature":20}`, at(4))), // repeated name
		on("room-1", line("room-1", "1999-12-31T23:30:00Z", 44, "")),                                                      // before 2000
	}
	msgs0 := append(messages(nil), msgs...)
	_, err = simulate.Publish(context.Background(), &msgs, simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	sum := p.finish(t)
	t.Log(sum)
	require.Equal(t, 5, sum.Rejected["device_mismatch"]+sum.Rejected["too_large"]+sum.Rejected["future_event_time"]+sum.Rejected["malformed_json"]+sum.Rejected["bad_event_time"])

	rows, err := engine.Query(context.Background(), `SELECT device_id, hour_start, readings, temperature_max FROM hourly_metrics ORDER BY hour_start, device_id`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var dev string
		var start time.Time
		var n int64
		var max float64
		require.NoError(t, rows.Scan(&dev, &start, &n, &max))
		got = append(got, fmt.Sprintf("%s %s %d %g", dev, start.UTC().Format("15"), n, max))
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{fmt.Sprintf("room-1 %s 2 22", hour.Format("15"))}, got,
		"only the two readings the evaluation accepted count (bronze holds all seven)")
	assert.Len(t, append(readLake(t, lakeDir, "bronze"), readLake(t, lakeDir, "errors/bronze")...), len(msgs0), "bronze keeps every message")
}
