package duckdbengine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// TestHealthIsTheSQLs holds aggregate.Health, the pages' figure, equal to gold's health_pct on a
// lake where devices send every share of their readings: all, some, a few, more than expected
// (capped), with repeats (counted once) and a registered device that sent nothing; per device and
// hour (hourly_metrics), per day (daily_metrics) and per location (location_hourly, rounded).
func TestHealthIsTheSQLs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	devs := []device.Device{{ID: "full", Location: "A"}, {ID: "most", Location: "A"}, {ID: "few", Location: "B"},
		{ID: "over", Location: "B"}, {ID: "repeats", Location: "B"}, {ID: "silent", Location: "A"}}
	sends := map[string]int{"full": 60, "most": 45, "few": 7, "over": 80, "repeats": 30}
	for _, h := range []time.Time{day.Add(6 * time.Hour), day.Add(7 * time.Hour)} {
		var lines []string
		for id, n := range sends {
			if h.Hour() == 7 && id == "most" {
				n = 13 // another share in the second hour
			}
			every := time.Hour / time.Duration(n)
			for i := range n {
				line := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":21.5,"msg_id":"%s-%d"}`, id, h.Add(time.Duration(i)*every).Format(time.RFC3339Nano), id, i)
				lines = append(lines, line)
				if id == "repeats" {
					lines = append(lines, line) // the same reading again: counted once
				}
			}
		}
		writeObject(t, root, lake.Bronze, h, "part-1.json.gz", lines)
	}
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	require.NoError(t, e.SetDevices(ctx, devs))
	for _, h := range []time.Time{day.Add(6 * time.Hour), day.Add(7 * time.Hour)} {
		_, err := e.AggregateHour(ctx, aggregate.Hour{Start: h, ExpectedReadings: 60})
		require.NoError(t, err)
	}
	_, err = e.AggregateDay(ctx, aggregate.Day{Start: day, ExpectedReadings: 60})
	require.NoError(t, err)

	seen := map[float64]bool{}
	check := func(what, query string, args []any, round bool) {
		rows, err := e.DB().QueryContext(ctx, query, args...)
		require.NoError(t, err)
		defer rows.Close()
		n := 0
		for rows.Next() {
			var key string
			var readings, expected int64
			var sqlPct float64
			require.NoError(t, rows.Scan(&key, &readings, &expected, &sqlPct))
			goPct, ok := aggregate.Health(readings, expected)
			require.True(t, ok, "%s %s: expected %d", what, key, expected)
			if round {
				assert.InDelta(t, goPct, sqlPct, 5e-7, "%s %s: %d of %d", what, key, readings, expected)
			} else {
				assert.Equal(t, goPct, sqlPct, "%s %s: %d of %d", what, key, readings, expected)
			}
			seen[goPct] = true
			n++
		}
		require.NoError(t, rows.Err())
		require.NotZero(t, n, "%s has rows", what)
	}
	for _, h := range []time.Time{day.Add(6 * time.Hour), day.Add(7 * time.Hour)} {
		check("hourly_metrics", "SELECT device_id, readings, expected_readings, health_pct FROM read_parquet(?)", []any{e.GoldFile(h)}, false)
		check("location_hourly", "SELECT location, readings, expected_readings * devices_known, health_pct FROM read_parquet(?)",
			[]any{e.HourFile(lake.LocationHourlyTable, h)}, true)
	}
	check("daily_metrics", "SELECT device_id, readings, expected_readings, health_pct FROM read_parquet(?)", []any{e.DayFile(day)}, false)
	assert.GreaterOrEqual(t, len(seen), 6, "the lake shows many shares, not only 100 %%: %v", seen)
	assert.True(t, seen[100], "a device over its expected readings is capped at 100")
}
