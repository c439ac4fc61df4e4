package duckdbengine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
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

var h0 = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

// genCatalog declares the metrics of genLake's room-9 lines.
func genCatalog(t testing.TB) *reading.Catalog {
	t.Helper()
	c, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\n"), "metrics.csv")
	require.NoError(t, err)
	return c
}

// writeObject writes lines as one gzip JSON-lines object in the lake, as Firehose would.
func writeObject(t testing.TB, root, prefix string, hour time.Time, name string, lines []string) {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(lake.Partition(prefix, hour)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for _, l := range lines {
		zw.Write([]byte(l + "\n"))
	}
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// genLake writes three hours of bronze for 4 devices with every kind of trouble, and alerts.
// It returns the bronze lines per hour folder, for the reference computation.
// rejected are the lines genLake put in the rejections index: the reference leaves them out.
var rejected = map[string]bool{}

func genLake(t testing.TB, root string) map[time.Time][]string {
	rng := rand.New(rand.NewPCG(5, 6))
	perHour := map[time.Time][]string{}
	for hi := 0; hi < 3; hi++ {
		hour := h0.Add(time.Duration(hi) * time.Hour)
		var objects [3][]string
		for d := 0; d < 4; d++ {
			dev := fmt.Sprintf("room-%d", d+1)
			for m := 0; m < 60; m += 1 + d { // device d reports every d+1 minutes: health differs
				if d == 3 && hi == 1 && m > 20 {
					break // a device that went quiet
				}
				at := hour.Add(time.Duration(m) * time.Minute)
				temp := 18 + 8*rng.Float64()
				line := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":%.3f,"humidity":%.1f,"light":%.1f,"co2":%d,"humidity_ratio":0.0047,"occupancy":%d,"msg_id":"%s-%d-%d","fw":"1.2"}`,
					dev, at.Format(time.RFC3339), temp, 20+rng.Float64()*40, rng.Float64()*800, 400+rng.IntN(1200), rng.IntN(2), dev, hi, m)
				if d == 2 && m%10 == 0 {
					// no msg_id, an offset zone: identity by event_time
					line = fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":%.3f,"co2":%d}`, dev, at.In(time.FixedZone("", 3600)).Format(time.RFC3339), temp, 500+m)
				}
				obj := rng.IntN(3)
				objects[obj] = append(objects[obj], line)
				if m%7 == 0 { // duplicate in another object (Firehose retry, device resend)
					objects[(obj+1)%3] = append(objects[(obj+1)%3], line)
				}
			}
		}
		// only some metrics
		objects[0] = append(objects[0], fmt.Sprintf(`{"device_id":"room-9","event_time":"%s","co2":812}`, hour.Add(90*time.Second).Format(time.RFC3339)))
		objects[1] = append(objects[1], fmt.Sprintf(`{"device_id":"room-9","event_time":"%s","light":0,"occupancy":0}`, hour.Add(30*time.Minute).Format("2006-01-02T15:04:05.000Z")))
		// declared metrics (genCatalog: pm25 [0, 1000], power_w [0, 100000]): without the catalog
		// they are undeclared fields, ignored; with it, checked as the built-ins are
		for i, l := range []string{
			`"pm25":12.5,"temperature":21`,                   // valid
			`"pm25":7,"power_w":1500.25`,                     // declared only
			`"pm25":0,"power_w":100000,"light":3`,            // on the bounds
			`"pm25":1000.5,"temperature":21`,                 // out of range
			`"power_w":-1,"pm25":2`,                          // out of range (the second declared)
			`"pm25":"12","temperature":21`,                   // a string
			`"pm25":null,"temperature":21`,                   // null
			`"power_w":1e400,"co2":500`,                      // not finite
			`"pm25":true`,                                    // not a number, and no other metric
			`"voc":3`,                                        // undeclared only: no metric
			`"voc":3,"temperature":22`,                       // undeclared beside a built-in
			`"temperature":151,"pm25":"x"`,                   // bad_metric comes before out_of_range
			`"temperature":"x","pm25":5000`,                  // and for the built-ins first
			`"pm25":3,"pm25":4,"temperature":20`,             // repeated
			`"pm25":{"v":1}`,                                 // an object
			`"power_w":-0.0,"pm25":1e2`,                      // zero and an exponent
			`"pm25":999.99999999999999999,"humidity":40`,     // rounds to 1000
			`"pm25":12.5,"temperature":21,"pm2":9,"pm250":1`, // names near a declared one
		} {
			at := hour.Add(time.Duration(40*60+i) * time.Second).Format(time.RFC3339)
			o := rng.IntN(3)
			objects[o] = append(objects[o], `{"device_id":"room-9","event_time":"`+at+`",`+l+`}`)
		}
		// late: arrives in a later object, still in its event-time hour
		objects[2] = append(objects[2], fmt.Sprintf(`{"device_id":"room-1","event_time":"%s","temperature":30.5,"msg_id":"late-%d"}`, hour.Add(59*time.Minute+59*time.Second).Format(time.RFC3339), hi))
		// invalid rows: none may count
		ts := hour.Add(5 * time.Minute).Format(time.RFC3339)
		for _, bad := range []string{
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":151}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":"23.5"}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":null}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":1e400}`,
			`{"device_id":"room-1","event_time":"` + ts + `","occupancy":0.5}`,
			`{"device_id":"room 1","event_time":"` + ts + `","temperature":20}`,
			`{"device_id":null,"event_time":"` + ts + `","temperature":20}`,
			`{"device_id":"room-1","event_time":null,"temperature":20}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":20,"msg_id":"` + strings.Repeat("\\\"", 100) + hour.Format("15") + `"}`,
			// escapes in strings: the values as the decoder reads them
			`{"device_id":"room\u002d1","event_time":"` + strings.Replace(ts, "T", "\u0054", 1) + `","temperature":20.25,"msg_id":"esc\"aped-` + hour.Format("15") + `"}`,
			`{"device_id":12,"event_time":"` + ts + `","temperature":20}`,
			`{"device_id":"room-1","event_time":"` + hour.Format("2006-01-02T15") + `:05:00","temperature":20}`,
			`{"device_id":"room-1","event_time":"2026-02-30T06:05:00Z","temperature":20}`,
			`{"device_id":"room-1","event_time":"` + ts + `"}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":20,"msg_id":7}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":20`,
			`[1,2,3]`,
			`not json at all`,
			// a name repeated at the top level (engines disagree on which copy wins), escapes too
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":22,"temperature":50}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":22,"temp\u0065rature":50}`,
			`{"device_id":"room-1","event_time":"` + ts + `","event_time":"` + ts + `","temperature":20}`,
			`{"device_id":"room-1","event_time":"` + ts + `","temperature":20,"fw":1,"fw":2}`,
			// valid, but of the next hour: not this hour's row
			`{"device_id":"room-1","event_time":"` + hour.Add(time.Hour).Format(time.RFC3339) + `","temperature":20}`,
		} {
			o := rng.IntN(3)
			objects[o] = append(objects[o], bad)
		}
		// Lines the evaluation rejected for what a line alone cannot show (a reading of room-1 on
		// room-2's topic, one too large, one from the future): in bronze, and in the rejections
		// index of their hour. Copies in two objects, as a retried delivery leaves them.
		for i, reason := range []string{"device_mismatch", "too_large", "future_event_time"} {
			line := fmt.Sprintf(`{"device_id":"room-1","event_time":"%s","temperature":35.5,"msg_id":"rejected-%d-%d"}`, hour.Add(time.Duration(10+i)*time.Minute).Format(time.RFC3339), hi, i)
			objects[i] = append(objects[i], line)
			objects[(i+1)%3] = append(objects[(i+1)%3], line)
			sum := md5.Sum([]byte(line))
			rejected[line] = true
			rej, _ := json.Marshal(lake.Rejection{LineMD5: hex.EncodeToString(sum[:]), Reason: reason, Source: "shardId-000000000000:1"})
			writeObject(t, root, lake.Rejections, hour, fmt.Sprintf("rejections-%d.json.gz", i), []string{string(rej)})
		}
		for i, lines := range objects {
			writeObject(t, root, lake.Bronze, hour, fmt.Sprintf("iotwatch-bronze-%d.json.gz", i), lines)
			perHour[hour] = append(perHour[hour], lines...)
		}
		// alerts: OPEN/ESCALATE count, RESOLVE does not, a repeated alert_id counts once
		at := hour.Add(10 * time.Minute).Format(time.RFC3339)
		writeObject(t, root, lake.Alerts, hour, "alerts-0.json.gz", []string{
			`{"alert_id":"a1-` + at + `","kind":"OPEN","alert_time":"` + at + `","user_id":"alice","device_id":"room-1","rule":"temperature_high","severity":"WARNING","metric":"temperature","observed_value":25,"threshold_value":24,"window_start_ms":0,"window_end_ms":0}`,
			`{"alert_id":"a1-` + at + `","kind":"OPEN","alert_time":"` + at + `","user_id":"alice","device_id":"room-1","rule":"temperature_high","severity":"WARNING","metric":"temperature","observed_value":25,"threshold_value":24,"window_start_ms":0,"window_end_ms":0}`,
			`{"alert_id":"a2-` + at + `","kind":"ESCALATE","alert_time":"` + at + `","user_id":"alice","device_id":"room-1","rule":"temperature_high","severity":"VIOLATION","metric":"temperature","observed_value":27,"threshold_value":26,"window_start_ms":0,"window_end_ms":0}`,
			`{"alert_id":"a3-` + at + `","kind":"OPEN","alert_time":"` + at + `","user_id":"bob","device_id":"room-1","rule":"temperature_low","severity":"WARNING","metric":"temperature","observed_value":17,"threshold_value":18,"window_start_ms":0,"window_end_ms":0}`,
			`{"alert_id":"a4-` + at + `","kind":"RESOLVE","alert_time":"` + at + `","user_id":"bob","device_id":"room-2","rule":"temperature_low","severity":"WARNING","metric":"temperature","observed_value":19,"threshold_value":18,"window_start_ms":0,"window_end_ms":0}`,
			`{"alert_id":"a5-` + at + `","kind":"OPEN","alert_time":"` + at + `","user_id":"carol","device_id":"room-2","rule":"light_no_occupancy","severity":"WARNING","metric":"light","observed_value":500,"threshold_value":300,"window_start_ms":0,"window_end_ms":0}`,
		})
	}
	return perHour
}

// row is one hourly_metrics row, NULLs as NaN.
type row struct {
	device                                                          string
	hourStart                                                       time.Time
	readings                                                        int64
	tMin, tAvg, tMax, tP50, tP95, hAvg, lAvg, lMax, cAvg, cMax, occ float64
	expected                                                        int64
	health                                                          float64
	warn, viol                                                      int64
}

// reference computes the hour's rows in Go, with the evaluate function's decoder deciding validity.
func reference(lines []string, hour time.Time, alerts map[string][2]int64) []row {
	return referenceSpan(lines, hour, time.Hour, alerts)
}

// referenceSpan computes the rows of a period (an hour, a day) in Go.
func referenceSpan(lines []string, hour time.Time, span time.Duration, alerts map[string][2]int64) []row {
	type acc struct {
		vals [reading.NumMetrics][]float64
		n    int64
	}
	seen := map[string]bool{}
	byDev := map[string]*acc{}
	for _, l := range lines {
		if rejected[l] {
			continue
		}
		r, err := reading.Decode([]byte(l), reading.Options{})
		if err != nil || r.EventTime.Before(hour) || !r.EventTime.Before(hour.Add(span)) {
			continue
		}
		id := r.DeviceID + "|" + r.Identity().String()
		if r.MsgID == "" {
			id = fmt.Sprintf("%s|t:%d", r.DeviceID, r.EventTime.UnixMilli())
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		a := byDev[r.DeviceID]
		if a == nil {
			a = &acc{}
			byDev[r.DeviceID] = a
		}
		a.n++
		for m := reading.Metric(0); m < reading.NumMetrics; m++ {
			if v, ok := r.Value(m); ok {
				a.vals[m] = append(a.vals[m], v)
			}
		}
	}
	agg := func(v []float64, f string) float64 {
		if len(v) == 0 {
			return math.NaN()
		}
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		switch f {
		case "min":
			return s[0]
		case "max":
			return s[len(s)-1]
		case "avg":
			sum := 0.0
			for _, x := range s {
				sum += x
			}
			return sum / float64(len(s))
		}
		var q float64
		fmt.Sscan(f, &q)
		pos := q * float64(len(s)-1)
		lo, hi := math.Floor(pos), math.Ceil(pos)
		return s[int(lo)] + (s[int(hi)]-s[int(lo)])*(pos-lo)
	}
	var out []row
	for dev, a := range byDev {
		t := a.vals[reading.Temperature]
		out = append(out, row{device: dev, hourStart: hour, readings: a.n,
			tMin: agg(t, "min"), tAvg: agg(t, "avg"), tMax: agg(t, "max"), tP50: agg(t, "0.5"), tP95: agg(t, "0.95"),
			hAvg: agg(a.vals[reading.Humidity], "avg"), lAvg: agg(a.vals[reading.Light], "avg"), lMax: agg(a.vals[reading.Light], "max"),
			cAvg: agg(a.vals[reading.CO2], "avg"), cMax: agg(a.vals[reading.CO2], "max"), occ: agg(a.vals[reading.Occupancy], "avg"),
			expected: 60, health: math.Min(100, 100*float64(a.n)/60), warn: alerts[dev][0], viol: alerts[dev][1]})
		if span != time.Hour {
			out[len(out)-1].expected, out[len(out)-1].health = 60*int64(span/time.Hour), 100*float64(a.n)/float64(60*int64(span/time.Hour))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].device < out[j].device })
	return out
}

func readGold(t testing.TB, db *sql.DB, file string) []row {
	t.Helper()
	rows, err := db.Query(`SELECT device_id, hour_start, readings, temperature_min, temperature_avg, temperature_max, temperature_p50, temperature_p95,
		humidity_avg, light_avg, light_max, co2_avg, co2_max, occupancy_ratio, expected_readings, health_pct, alerts_warning, alerts_violation
		FROM read_parquet(?) ORDER BY device_id`, file)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		f := make([]sql.NullFloat64, 11)
		if err := rows.Scan(&r.device, &r.hourStart, &r.readings, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
			&r.expected, &r.health, &r.warn, &r.viol); err != nil {
			t.Fatal(err)
		}
		vals := []*float64{&r.tMin, &r.tAvg, &r.tMax, &r.tP50, &r.tP95, &r.hAvg, &r.lAvg, &r.lMax, &r.cAvg, &r.cMax, &r.occ}
		for i, v := range f {
			*vals[i] = math.NaN()
			if v.Valid {
				*vals[i] = v.Float64
			}
		}
		out = append(out, r)
	}
	return out
}

// same compares at the precision of the gold table (averages are rounded to 6 decimals).
func same(a, b float64) bool {
	return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= 1e-6
}

func TestAggregateEqualsReference(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	perHour := genLake(t, root)
	e, err := duckdbengine.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := aggregate.NewHandler(e, aggregate.DefaultConfig, nil, nil)
	backfill := []byte(`{"from":"2026-03-01T05","to":"2026-03-01T10"}`) // two empty hours around the three
	var first map[time.Time][]row
	for run := 0; run < 2; run++ { // the second run must give the same rows
		res, err := h.Handle(ctx, backfill)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hours) != 5 {
			t.Errorf("hours = %v", res.Hours)
		}
		got := map[time.Time][]row{}
		for hour, lines := range perHour {
			alerts := map[string][2]int64{"room-1": {2, 1}, "room-2": {1, 0}}
			want := reference(lines, hour, alerts)
			got[hour] = readGold(t, e.DB(), e.GoldFile(hour))
			if len(got[hour]) != len(want) {
				t.Fatalf("%s: %d rows; want %d", hour, len(got[hour]), len(want))
			}
			for i := range want {
				g, w := got[hour][i], want[i]
				gv := []float64{g.tMin, g.tAvg, g.tMax, g.tP50, g.tP95, g.hAvg, g.lAvg, g.lMax, g.cAvg, g.cMax, g.occ, g.health}
				wv := []float64{w.tMin, w.tAvg, w.tMax, w.tP50, w.tP95, w.hAvg, w.lAvg, w.lMax, w.cAvg, w.cMax, w.occ, w.health}
				names := strings.Fields("temperature_min temperature_avg temperature_max temperature_p50 temperature_p95 humidity_avg light_avg light_max co2_avg co2_max occupancy_ratio health_pct")
				if g.device != w.device || !g.hourStart.Equal(w.hourStart) || g.readings != w.readings || g.expected != w.expected || g.warn != w.warn || g.viol != w.viol {
					t.Errorf("%s %s: got %+v\nwant %+v", hour.Format("15h"), w.device, g, w)
				}
				for k := range gv {
					if !same(gv[k], wv[k]) {
						t.Errorf("%s %s %s = %v; want %v", hour.Format("15h"), w.device, names[k], gv[k], wv[k])
					}
				}
			}
		}
		if run == 0 {
			first = got
		} else {
			for hour := range got {
				if a, b := fmt.Sprint(first[hour]), fmt.Sprint(got[hour]); a != b {
					t.Errorf("a second run gave other rows for %s:\n%s\n%s", hour, a, b)
				}
			}
		}
	}
	for _, empty := range []time.Time{h0.Add(-time.Hour), h0.Add(3 * time.Hour)} {
		if _, err := os.Stat(e.GoldFile(empty)); !os.IsNotExist(err) {
			t.Errorf("hour %s has no bronze but a gold file (%v)", empty, err)
		}
	}
	// The views of `iotwatch query`, with the columns of the lake's tables (as Glue has them).
	rows, err := e.Query(ctx, "SELECT count(*) FROM hourly_metrics")
	require.NoError(t, err)
	require.True(t, rows.Next(), "no row from count(*)")
	var n int64
	require.NoError(t, rows.Scan(&n))
	require.NoError(t, rows.Close())
	assert.Equal(t, int64(15), n, "hourly_metrics rows: room-1..4 and room-9, three hours")
	for _, tbl := range []lake.Table{lake.BronzeReadingsTable, lake.AlertsTable, lake.SilverReadingsTable, lake.HourlyMetricsTable,
		lake.DailyMetricsTable, lake.DQHourlyTable, lake.LocationHourlyTable, lake.HourlyMetricValuesTable, lake.DailyMetricValuesTable} {
		want := tbl.Columns
		if tbl.Partitioned {
			want = append(append([]lake.Column{}, want...), lake.PartitionColumns...)
		}
		assert.Equal(t, want, describe(t, e.DB(), "SELECT * FROM "+tbl.Name), "columns of the view %s", tbl.Name)
	}
	// What the aggregation writes is each table, column for column.
	for _, c := range []struct {
		t    lake.Table
		file string
	}{{lake.HourlyMetricsTable, e.GoldFile(h0)}, {lake.SilverReadingsTable, e.HourFile(lake.SilverReadingsTable, h0)},
		{lake.DQHourlyTable, e.HourFile(lake.DQHourlyTable, h0)}, {lake.LocationHourlyTable, e.HourFile(lake.LocationHourlyTable, h0)},
		{lake.DailyMetricsTable, e.DayFile(h0)}} {
		assert.Equal(t, c.t.Columns, describe(t, e.DB(), fmt.Sprintf("SELECT * FROM read_parquet('%s', hive_partitioning = false)", c.file)), "columns of %s", c.t.Name)
	}
}

// describe returns the columns of a query's result as DuckDB types them.
func describe(t *testing.T, db *sql.DB, query string) []lake.Column {
	t.Helper()
	rows, err := db.Query("DESCRIBE " + query)
	require.NoError(t, err)
	defer rows.Close()
	types := map[string]lake.ColumnType{}
	for _, ct := range []lake.ColumnType{lake.String, lake.Double, lake.BigInt, lake.Timestamp, lake.DoubleMap} {
		types[ct.DuckDB()] = ct
	}
	var out []lake.Column
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		require.NoError(t, rows.Scan(&name, &typ, &null, &key, &def, &extra))
		ct, ok := types[typ]
		require.True(t, ok, "column %s has type %s, which no lake table uses", name, typ)
		out = append(out, lake.Column{Name: name, Type: ct})
	}
	require.NoError(t, rows.Err())
	return out
}

// TestHoursOfClockFaultsHaveNoRows: readings whose event time is before 2000 are device clock
// faults the decoder rejects; their hour has no gold row (a reading of 1600 once switched a
// device's alarms off, and the lake must not count it either).
func TestHoursOfClockFaultsHaveNoRows(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	for _, hour := range []time.Time{time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)} {
		at := hour.Add(30 * time.Minute).Format(time.RFC3339)
		writeObject(t, root, lake.Bronze, hour, "a.json.gz", []string{`{"device_id":"room-1","event_time":"` + at + `","temperature":21}`})
		res, err := e.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
		require.NoError(t, err)
		assert.Zero(t, res.Rows, "hour %s", hour)
		_, err = os.Stat(e.GoldFile(hour))
		assert.True(t, os.IsNotExist(err), "hour %s has a gold file", hour)
	}
}

// TestViewsReadOnlyFinishedObjects: a write in progress (or one that failed) leaves a dot-file
// ending in .tmp; the views once read it too (21,372 rows for 20,000 messages).
func TestViewsReadOnlyFinishedObjects(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	line := `{"device_id":"room-1","event_time":"2026-03-01T06:10:00Z","temperature":21}`
	writeObject(t, root, lake.Bronze, h0, "iotwatch-bronze-1.json.gz", []string{line})
	writeObject(t, root, lake.Bronze, h0, ".iotwatch-bronze-2.json.gz.tmp", []string{line, line})
	writeObject(t, root, lake.Alerts, h0, ".iotwatch-alerts-1.json.gz.tmp", []string{`{"alert_id":"a"}`})
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	for view, want := range map[string]int64{"bronze_readings": 1, "alerts": 0} {
		rows, err := e.Query(ctx, "SELECT count(*) FROM "+view)
		require.NoError(t, err)
		require.True(t, rows.Next())
		var n int64
		require.NoError(t, rows.Scan(&n))
		require.NoError(t, rows.Close())
		assert.Equal(t, want, n, view)
	}
}

// TestQueryReadsTheLakeAndNothingElse: `iotwatch query` over a shared lake once deleted bronze
// with a COPY, wrote and read files anywhere, attached and created databases. Each attempt is
// refused; SELECT and WITH work, and the lake is intact afterwards.
func TestQueryReadsTheLakeAndNothingElse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "lake")
	line := `{"device_id":"room-1","event_time":"2026-03-01T06:10:00Z","temperature":21}`
	writeObject(t, root, lake.Bronze, h0, "iotwatch-bronze-1.json.gz", []string{line})
	secret := filepath.Join(dir, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o644))
	e, err := duckdbengine.OpenReadOnly(ctx, root)
	require.NoError(t, err)
	defer e.Close()

	for _, q := range []string{
		"COPY (SELECT 1 a) TO '" + root + "/bronze' (FORMAT parquet, PARTITION_BY (a), OVERWRITE)",
		"COPY (SELECT 1 a) TO '" + filepath.Join(dir, "x.csv") + "'",
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM read_text('" + secret + "')",
		"SELECT * FROM read_text('" + root + "/../secret.txt')",
		"ATTACH '" + filepath.Join(dir, "other.duckdb") + "'",
		"CREATE TABLE t AS SELECT 1",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SELECT 1; COPY (SELECT 1) TO '" + root + "/x.csv'",
		"PRAGMA version",
		"DROP VIEW bronze_readings",
	} {
		rows, err := e.Query(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		assert.Error(t, err, "%s was run", q)
	}
	for _, q := range []string{
		"SELECT count(*) FROM bronze_readings",
		"WITH b AS (SELECT * FROM bronze_readings) SELECT count(*) FROM b",
		"SELECT count(*) FROM read_json_objects('" + root + "/bronze/*/*/*.json.gz')",
	} {
		rows, err := e.Query(ctx, q)
		require.NoError(t, err, q)
		require.True(t, rows.Next(), q)
		var n int64
		require.NoError(t, rows.Scan(&n))
		require.NoError(t, rows.Close())
		assert.Equal(t, int64(1), n, q)
	}
	_, err = os.Stat(filepath.Join(root, lake.Partition(lake.Bronze, h0), "iotwatch-bronze-1.json.gz"))
	assert.NoError(t, err, "bronze is intact")
	_, err = os.Stat(filepath.Join(dir, "x.csv"))
	assert.True(t, os.IsNotExist(err), "nothing was written outside the lake")
}
