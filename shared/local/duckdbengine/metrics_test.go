package duckdbengine_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// valueRow is one row of hourly_metric_values or daily_metric_values.
type valueRow struct {
	device, metric     string
	start              time.Time
	readings           int64
	min, avg, max, p95 float64
}

func readValues(t *testing.T, db *sql.DB, file, startColumn string) map[string]valueRow {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf(`SELECT device_id, metric, %s, readings, value_min, value_avg, value_max, value_p95
		FROM read_parquet(?) ORDER BY device_id, metric`, startColumn), file)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]valueRow{}
	for rows.Next() {
		var r valueRow
		require.NoError(t, rows.Scan(&r.device, &r.metric, &r.start, &r.readings, &r.min, &r.avg, &r.max, &r.p95))
		out[r.device+" "+r.metric] = r
	}
	require.NoError(t, rows.Err())
	return out
}

// checkValues compares a table's rows with the figures wanted: readings, min, avg and max
// exactly (avg rounded to 6 decimals, as the table is), p95 within the tolerance of the other gold
// tables' tests (DuckDB's percentile is exact; Athena's is approximate).
func checkValues(t *testing.T, what string, got map[string]valueRow, start time.Time, want map[string][5]float64) {
	t.Helper()
	require.Len(t, got, len(want), "%s: %v", what, got)
	for k, w := range want {
		g, ok := got[k]
		if !assert.True(t, ok, "%s: no row %s", what, k) {
			continue
		}
		assert.True(t, g.start.Equal(start), "%s %s start %v; want %v", what, k, g.start, start)
		assert.Equal(t, []float64{w[0], w[1], math.Round(w[2]*1e6) / 1e6, w[3]}, []float64{float64(g.readings), g.min, g.avg, g.max},
			"%s %s: readings, min, avg, max", what, k)
		assert.True(t, same(g.p95, w[4]), "%s %s p95 = %v; want %v", what, k, g.p95, w[4])
	}
}

// TestDeclaredMetricsEndToEnd: a small lake with readings carrying pm25 and power_w, a catalog
// declaring them, two hours aggregated: silver keeps their values in metrics, hourly_metric_values
// and daily_metric_values hold their figures, a line with a declared metric out of its range or
// null is not in silver and dq_hourly counts it rejected. A catalog without power_w leaves it
// out of the next rewrite of the hour; declared again, it is back (bronze kept it).
func TestDeclaredMetricsEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	h7 := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	h8 := h7.Add(time.Hour)
	at := func(h time.Time, min int) string { return h.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	line := func(dev string, h time.Time, min int, metrics string, msg string) string {
		return fmt.Sprintf(`{"device_id":%q,"event_time":%q,%s,"msg_id":%q}`, dev, at(h, min), metrics, msg)
	}
	writeObject(t, root, lake.Bronze, h7, "iotwatch-bronze-1772349000000000000-000001.json.gz", []string{
		line("meter-7", h7, 0, `"pm25":10,"power_w":500`, "m-0"),
		line("meter-7", h7, 1, `"pm25":20,"power_w":498.5`, "m-1"),
		line("meter-7", h7, 2, `"pm25":30`, "m-2"),
		line("meter-7", h7, 3, `"pm25":40,"fw":"1.2"`, "m-3"),
		line("meter-7", h7, 30, `"pm25":1200,"power_w":500`, "bad-1"), // out of range
		line("meter-7", h7, 31, `"pm25":null,"power_w":500`, "bad-2"), // null
		line("room-1", h7, 5, `"temperature":21.5,"pm25":5.5`, "r-5"),
		line("room-1", h7, 6, `"temperature":22`, "r-6"), // no declared metric: metrics is NULL
	})
	// a copy of m-1 in another object: counted once
	writeObject(t, root, lake.Bronze, h7, "iotwatch-bronze-1772349600000000000-000001.json.gz", []string{line("meter-7", h7, 1, `"pm25":20,"power_w":498.5`, "m-1")})
	writeObject(t, root, lake.Bronze, h8, "iotwatch-bronze-1772353200000000000-000001.json.gz", []string{
		line("meter-7", h8, 10, `"power_w":510`, "m-70"),
	})
	catalog, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\n"), "metrics.csv")
	require.NoError(t, err)

	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	aggregateWith := func(c *reading.Catalog) {
		t.Helper()
		cfg := aggregate.DefaultConfig
		cfg.Catalog = c
		cfg.Now = func() time.Time { return time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC) } // the day is over
		res, err := aggregate.NewHandler(e, cfg, nil, nil).Run(ctx, []time.Time{h7, h8})
		require.NoError(t, err)
		require.Equal(t, []string{"2026-03-01"}, res.Days)
	}
	aggregateWith(catalog)

	silver := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, h7))
	got := map[string]map[string]float64{}
	for k, r := range silver {
		got[k] = r.metrics
	}
	assert.Equal(t, map[string]map[string]float64{
		"meter-7|m:m-0": {"pm25": 10, "power_w": 500},
		"meter-7|m:m-1": {"pm25": 20, "power_w": 498.5},
		"meter-7|m:m-2": {"pm25": 30},
		"meter-7|m:m-3": {"pm25": 40},
		"room-1|m:r-5":  {"pm25": 5.5},
		"room-1|m:r-6":  nil,
	}, got, "silver's metrics")
	assert.Equal(t, int64(2), silver["meter-7|m:m-1"].copies)

	var rejected, valid int64
	var reasons string
	require.NoError(t, e.DB().QueryRow(`SELECT rejected, valid_readings, rejected_by_reason FROM read_parquet(?) WHERE device_id = 'meter-7'`,
		e.HourFile(lake.DQHourlyTable, h7)).Scan(&rejected, &valid, &reasons))
	assert.Equal(t, []int64{2, 4}, []int64{rejected, valid}, "meter-7: rejected, valid readings")
	assert.JSONEq(t, `{"bad_metric":1,"out_of_range":1}`, reasons)

	hourly7 := map[string][5]float64{ // readings, min, avg, max, p95
		"meter-7 pm25":    {4, 10, 25, 40, 38.5},
		"meter-7 power_w": {2, 498.5, 499.25, 500, 499.925},
		"room-1 pm25":     {1, 5.5, 5.5, 5.5, 5.5},
	}
	checkValues(t, "hourly_metric_values 07", readValues(t, e.DB(), e.HourFile(lake.HourlyMetricValuesTable, h7), "hour_start"), h7, hourly7)
	checkValues(t, "hourly_metric_values 08", readValues(t, e.DB(), e.HourFile(lake.HourlyMetricValuesTable, h8), "hour_start"), h8,
		map[string][5]float64{"meter-7 power_w": {1, 510, 510, 510, 510}})
	day := h7.Truncate(24 * time.Hour)
	daily := map[string][5]float64{
		"meter-7 pm25":    {4, 10, 25, 40, 38.5},
		"meter-7 power_w": {3, 498.5, (498.5 + 500 + 510) / 3, 510, 509},
		"room-1 pm25":     {1, 5.5, 5.5, 5.5, 5.5},
	}
	checkValues(t, "daily_metric_values", readValues(t, e.DB(), e.DayTableFile(lake.DailyMetricValuesTable, day), "day_start"), day, daily)

	// hourly_metrics is as it was: every reading, the declared metrics' or not
	gold := readGold(t, e.DB(), e.GoldFile(h7))
	require.Len(t, gold, 2)
	assert.Equal(t, []int64{4, 2}, []int64{gold[0].readings, gold[1].readings})

	// the query views: element_at reads a map as on Athena (NULL for a metric the reading lacks)
	rows, err := e.Query(ctx, `SELECT msg_id, element_at(metrics, 'power_w'), metrics['pm25'] FROM silver_readings ORDER BY device_id, msg_id`)
	require.NoError(t, err)
	var q []string
	for rows.Next() {
		var id string
		var pw, pm sql.NullFloat64
		require.NoError(t, rows.Scan(&id, &pw, &pm))
		q = append(q, fmt.Sprintf("%s %v %v", id, pw.Float64, pm.Float64))
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, []string{"m-0 500 10", "m-1 498.5 20", "m-2 0 30", "m-3 0 40", "m-70 510 0", "r-5 0 5.5", "r-6 0 0"}, q)
	var n int64
	require.NoError(t, e.DB().QueryRow(`SELECT count(*) FROM hourly_metric_values`).Scan(&n))
	assert.Equal(t, int64(4), n, "the hourly_metric_values view")
	require.NoError(t, e.DB().QueryRow(`SELECT count(*) FROM daily_metric_values`).Scan(&n))
	assert.Equal(t, int64(3), n, "the daily_metric_values view")

	// power_w no longer declared: the next rewrite leaves it out of silver and gold (bronze keeps it)
	withoutPower, err := reading.ParseCatalog(strings.NewReader("name,min,max\npm25,0,1000\n"), "metrics.csv")
	require.NoError(t, err)
	aggregateWith(withoutPower)
	silver = readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, h7))
	assert.Equal(t, map[string]float64{"pm25": 10}, silver["meter-7|m:m-0"].metrics)
	assert.Len(t, silver, 6, "a reading with power_w alone would be no_metrics now; these all carry pm25 or a built-in")
	checkValues(t, "hourly_metric_values 07 without power_w", readValues(t, e.DB(), e.HourFile(lake.HourlyMetricValuesTable, h7), "hour_start"), h7,
		map[string][5]float64{"meter-7 pm25": hourly7["meter-7 pm25"], "room-1 pm25": hourly7["room-1 pm25"]})
	// hour 08's only line carries power_w alone: without it, the line has no metric
	_, err = os.Stat(e.HourFile(lake.SilverReadingsTable, h8))
	assert.True(t, os.IsNotExist(err), "hour 08's silver: %v", err)
	require.NoError(t, e.DB().QueryRow(`SELECT rejected_by_reason FROM read_parquet(?)`, e.HourFile(lake.DQHourlyTable, h8)).Scan(&reasons))
	assert.JSONEq(t, `{"no_metrics":1}`, reasons)

	// declared again: back from bronze, as it was
	aggregateWith(catalog)
	checkValues(t, "hourly_metric_values 07 again", readValues(t, e.DB(), e.HourFile(lake.HourlyMetricValuesTable, h7), "hour_start"), h7, hourly7)
	checkValues(t, "daily_metric_values again", readValues(t, e.DB(), e.DayTableFile(lake.DailyMetricValuesTable, day), "day_start"), day, daily)

	// a silver file written before the metrics column (an hour not rewritten since): the day and
	// the views read it, its readings without declared metrics
	old := e.HourFile(lake.SilverReadingsTable, h8)
	_, err = e.DB().Exec(fmt.Sprintf(`COPY (SELECT * EXCLUDE (metrics) FROM read_parquet('%s')) TO '%s.old' (FORMAT parquet)`, old, old))
	require.NoError(t, err)
	require.NoError(t, os.Rename(old+".old", old))
	_, err = e.AggregateDay(ctx, aggregate.Day{Start: day, ExpectedReadings: 60, Catalog: catalog})
	require.NoError(t, err)
	daily["meter-7 power_w"] = hourly7["meter-7 power_w"]
	checkValues(t, "daily_metric_values over an old silver file", readValues(t, e.DB(), e.DayTableFile(lake.DailyMetricValuesTable, day), "day_start"), day, daily)
	require.NoError(t, e.DB().QueryRow(`SELECT readings FROM read_parquet(?) WHERE device_id = 'meter-7'`, e.DayFile(day)).Scan(&n))
	assert.Equal(t, int64(5), n, "daily_metrics counts the old file's reading")
	rows, err = e.Query(ctx, `SELECT count(*), count(metrics) FROM silver_readings`)
	require.NoError(t, err)
	require.True(t, rows.Next())
	var all, withMetrics int64
	require.NoError(t, rows.Scan(&all, &withMetrics))
	require.NoError(t, rows.Close())
	assert.Equal(t, []int64{7, 5}, []int64{all, withMetrics}, "silver_readings over old and new files")
}
