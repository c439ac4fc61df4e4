package duckdbengine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// silverRow is one silver_readings row as the test reads it.
type silverRow struct {
	device, msgID, outOfRange, alertRules, source, version string
	eventTime, ingested, processed                         time.Time
	vals                                                   [reading.NumMetrics]float64 // NaN when null
	copies                                                 int64
	metrics                                                map[string]float64 // nil when NULL
}

func (r silverRow) key() string {
	if r.msgID != "" {
		return r.device + "|m:" + r.msgID
	}
	return fmt.Sprintf("%s|t:%d", r.device, r.eventTime.UnixMilli())
}

func readSilver(t *testing.T, db *sql.DB, file string) map[string]silverRow {
	t.Helper()
	rows, err := db.Query(`SELECT device_id, event_time, msg_id, temperature, humidity, light, co2, humidity_ratio, occupancy,
		out_of_range, alert_rules, copies, source_object, ingested_at, processed_at, pipeline_version,
		CAST(to_json(metrics) AS VARCHAR) FROM read_parquet(?)`, file)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]silverRow{}
	for rows.Next() {
		var r silverRow
		var msg, oor, rules, src, metrics sql.NullString
		var ing sql.NullTime
		v := make([]sql.NullFloat64, reading.NumMetrics)
		require.NoError(t, rows.Scan(&r.device, &r.eventTime, &msg, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &oor, &rules, &r.copies, &src, &ing, &r.processed, &r.version, &metrics))
		if metrics.Valid {
			require.NoError(t, json.Unmarshal([]byte(metrics.String), &r.metrics), "metrics %s", metrics.String)
		}
		r.msgID, r.outOfRange, r.alertRules, r.source, r.ingested = msg.String, oor.String, rules.String, src.String, ing.Time
		for i := range v {
			r.vals[i] = math.NaN()
			if v[i].Valid {
				r.vals[i] = v[i].Float64
			}
		}
		_, dup := out[r.key()]
		require.False(t, dup, "identity %s twice in silver", r.key())
		out[r.key()] = r
	}
	require.NoError(t, rows.Err())
	return out
}

// lineDevice is the device a line is attributed to: its device_id, when it is a JSON object
// whose device_id is a valid id ("" otherwise).
func lineDevice(l string) string {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(l))
	dec.UseNumber() // 1e400 is a JSON number, though not a float64
	if dec.Decode(&m) != nil || dec.More() {
		return ""
	}
	if s, ok := m["device_id"].(string); ok && reading.ValidDeviceID(s) {
		return s
	}
	return ""
}

// genAlertRules are the rules of genLake's alerts that each (device, minute 10) reading raised.
var genAlertRules = map[string]string{"room-1": "temperature_high,temperature_low", "room-2": "light_no_occupancy,temperature_low"}

// TestSilverAndQualityFollowTheDecoder: for every line of genLake, the decoder (and the rejections
// index) decides; silver holds each accepted identity once with its values, flags and lineage, and
// dq_hourly counts every line of every device by the reason the decoder gives. Without a catalog,
// and with one that declares the metrics of genLake's room-9 lines (then silver's metrics holds
// their values).
func TestSilverAndQualityFollowTheDecoder(t *testing.T) {
	for _, c := range []struct {
		name    string
		catalog *reading.Catalog
	}{{"built-ins", nil}, {"catalog", genCatalog(t)}} {
		t.Run(c.name, func(t *testing.T) { silverAndQualityFollowTheDecoder(t, c.catalog) })
	}
}

func silverAndQualityFollowTheDecoder(t *testing.T, catalog *reading.Catalog) {
	ctx := context.Background()
	root := t.TempDir()
	perHour := genLake(t, root)
	for hour, lines := range writeBatches(t, root) {
		perHour[hour] = append(perHour[hour], lines...)
	}
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	cfg := aggregate.DefaultConfig
	cfg.Catalog = catalog
	_, err = aggregate.NewHandler(e, cfg, nil, nil).Handle(ctx, []byte(`{"from":"2026-03-01T06","to":"2026-03-01T09"}`))
	require.NoError(t, err)
	dec := reading.Decoder{Catalog: catalog}
	var declared int             // accepted readings with a declared metric: the catalog's case must have some
	index := map[string]string{} // line -> the rejections index's reason
	for l := range rejected {
		switch {
		case strings.Contains(l, `rejected-`) && strings.HasSuffix(l, `-0"}`):
			index[l] = "device_mismatch"
		case strings.HasSuffix(l, `-1"}`):
			index[l] = "too_large"
		default:
			index[l] = "future_event_time"
		}
	}
	meter := map[string]int64{} // writeBatches' rejections, over the hours: the test must see each kind
	for hour, lines := range perHour {
		hourName := hour.Format(aggregate.HourLayout)
		want := map[string]silverRow{}
		type dq struct {
			bronze, valid, rejected int64
			reasons                 map[string]int64
		}
		wantDQ := map[string]*dq{}
		for _, l := range lines {
			dev := lineDevice(l)
			d := wantDQ[dev]
			if d == nil {
				d = &dq{reasons: map[string]int64{}}
				wantDQ[dev] = d
			}
			d.bronze++
			rs, bad, err := dec.DecodeMessage([]byte(l), reading.Options{}, nil)
			reason := index[l]
			var rej *reading.Rejection
			if reason == "" && errors.As(err, &rej) {
				reason = string(rej.Reason)
			}
			// a batched line's rejection counts in the hour of its first element (where
			// PartitionHour files it), an element's in the hour of its event time (of the first
			// element when it has no valid one); a single line's where it is filed
			home, homed := reading.PartitionHour([]byte(l), "event_time")
			here := func(h time.Time) bool { return !isBatch(l) || !homed || h.Equal(hour) }
			if reason != "" {
				if here(home) {
					d.rejected++
					d.reasons[reason]++
				}
				continue
			}
			require.NoError(t, err)
			for _, b := range bad {
				if here(elementHour(l, b.Index, home)) {
					d.rejected++
					d.reasons[string(b.Reason)]++
				}
			}
			for _, r := range rs {
				if r.EventTime.Before(hour) || !r.EventTime.Before(hour.Add(time.Hour)) {
					continue // filed in another hour's partition: in bronze_records only
				}
				d.valid++
				s := silverRow{device: r.DeviceID, msgID: r.MsgID, eventTime: r.EventTime.Truncate(time.Millisecond)}
				if prev, ok := want[s.key()]; ok {
					prev.copies++
					want[s.key()] = prev
					continue
				}
				for m := reading.Metric(0); m < reading.NumMetrics; m++ {
					s.vals[m] = math.NaN()
					if v, ok := r.Value(m); ok {
						s.vals[m] = v
					}
				}
				var oor []string
				for _, m := range reading.OutOfUsualRange(r) {
					oor = append(oor, m.String())
				}
				s.outOfRange = strings.Join(oor, ",")
				if r.EventTime.Equal(hour.Add(10 * time.Minute)) {
					s.alertRules = genAlertRules[r.DeviceID]
				}
				s.copies = 1
				for i, d := range catalog.Declared() {
					if v, ok := r.Value(reading.NumMetrics + reading.Metric(i)); ok {
						if s.metrics == nil {
							s.metrics = map[string]float64{}
						}
						s.metrics[d.Name] = v
					}
				}
				if s.metrics != nil {
					declared++
				}
				want[s.key()] = s
			}
		}

		got := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, hour))
		require.Equal(t, len(want), len(got), "%s: silver rows", hourName)
		for k, w := range want {
			g, ok := got[k]
			if !assert.True(t, ok, "%s: %s not in silver", hourName, k) {
				continue
			}
			assert.True(t, g.eventTime.Equal(w.eventTime), "%s %s event_time %v; want %v", hourName, k, g.eventTime, w.eventTime)
			for m := range w.vals {
				assert.True(t, same(g.vals[m], w.vals[m]), "%s %s %s = %v; want %v", hourName, k, reading.Metric(m), g.vals[m], w.vals[m])
			}
			assert.Equal(t, w.outOfRange, g.outOfRange, "%s %s out_of_range", hourName, k)
			assert.Equal(t, w.alertRules, g.alertRules, "%s %s alert_rules", hourName, k)
			assert.Equal(t, w.copies, g.copies, "%s %s copies", hourName, k)
			assert.Equal(t, w.metrics, g.metrics, "%s %s metrics", hourName, k)
			assert.Equal(t, aggregate.PipelineVersion, g.version)
			assert.Regexp(t, `^bronze/dt=2026-03-01/hour=0[678]/iotwatch-bronze-[0-9-]+\.json\.gz$`, g.source, "%s source_object", k)
			assert.WithinDuration(t, time.Now(), g.processed, time.Minute, "processed_at")
		}

		// dq_hourly, per device, and the fleet's pass rate over every row
		rows, err := e.DB().Query(`SELECT coalesce(device_id, ''), hour_start, bronze_records, valid_records, valid_readings, duplicates, rejected,
			rejected_by_reason, temperature_null_pct, late_arrivals, expected_readings, pass_rate_pct, fleet_pass_rate_pct
			FROM read_parquet(?)`, e.HourFile(lake.DQHourlyTable, hour))
		require.NoError(t, err)
		readingsOf := map[string]int64{}
		tempNull := map[string]int64{}
		for _, s := range want {
			readingsOf[s.device]++
			if math.IsNaN(s.vals[reading.Temperature]) {
				tempNull[s.device]++
			}
		}
		// the local writer's objects are named by when they were written (now): every reading
		// of writeBatches arrived late
		lateOf := map[string]int64{}
		if time.Now().After(hour.Add(2 * time.Hour)) {
			lateOf["meter-7"] = readingsOf["meter-7"]
		}
		var valid, all int64
		for _, d := range wantDQ {
			valid += d.valid
			all += d.valid + d.rejected
		}
		seen := 0
		for rows.Next() {
			var dev, reasons string
			var start time.Time
			var bronze, vRec, vRead, dups, rej, late int64
			var expected sql.NullInt64
			var tNull sql.NullFloat64
			var pass, fleet float64
			require.NoError(t, rows.Scan(&dev, &start, &bronze, &vRec, &vRead, &dups, &rej, &reasons, &tNull, &late, &expected, &pass, &fleet))
			seen++
			w := wantDQ[dev]
			require.NotNil(t, w, "%s: a dq row for %q, which has no line", hourName, dev)
			assert.True(t, start.Equal(hour), "hour_start %v", start)
			assert.Equal(t, []int64{w.bronze, w.valid, readingsOf[dev], w.valid - readingsOf[dev], w.rejected, lateOf[dev]},
				[]int64{bronze, vRec, vRead, dups, rej, late}, "%s %q: bronze, valid records, valid readings, duplicates, rejected, late", hourName, dev)
			wr, _ := json.Marshal(w.reasons) // encoding/json sorts the keys
			assert.JSONEq(t, string(wr), reasons, "%s %q: rejected_by_reason", hourName, dev)
			if dev == "" {
				assert.False(t, expected.Valid, "the row of no device expects no reading")
			} else {
				assert.Equal(t, int64(60), expected.Int64)
			}
			if readingsOf[dev] > 0 {
				assert.InDelta(t, 100*float64(tempNull[dev])/float64(readingsOf[dev]), tNull.Float64, 1e-6, "%s %q temperature_null_pct", hourName, dev)
			}
			assert.InDelta(t, 100*float64(w.valid)/float64(w.valid+w.rejected), pass, 1e-6, "%s %q pass_rate_pct", hourName, dev)
			assert.InDelta(t, 100*float64(valid)/float64(all), fleet, 1e-6, "%s fleet_pass_rate_pct", hourName)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		assert.Equal(t, len(wantDQ), seen, "%s: dq rows", hourName)
		if d := wantDQ["meter-7"]; d != nil {
			for r, n := range d.reasons {
				meter[r] += n
			}
		}
		if catalog != nil { // room-9's lines with declared metrics break every rule of a metric
			r9 := wantDQ["room-9"].reasons
			assert.Equal(t, []int64{7, 2, 1, 1}, []int64{r9["bad_metric"], r9["out_of_range"], r9["no_metrics"], r9["malformed_json"]}, "%s: room-9's reasons %v", hourName, r9)
		}
	}
	if catalog != nil {
		assert.NotZero(t, declared, "no accepted reading carries a declared metric")
	}
	// the batched lines: rejected whole (bad_batch 8 with the catalog, a declared metric beside
	// readings among them; malformed_json 1: readings twice goes to errors/, PartitionHour has no
	// hour for it) and elements rejected alone (bad_batch 1, malformed_json 1, …)
	wantMeter := map[string]int64{"bad_batch": 9, "malformed_json": 2, "missing_event_time": 1, "bad_event_time": 1, "bad_msg_id": 1,
		"device_mismatch": 2, "no_metrics": 1, "bad_metric": 2, "out_of_range": 2}
	if catalog == nil {
		wantMeter["bad_batch"], wantMeter["no_metrics"], wantMeter["bad_metric"], wantMeter["out_of_range"] = 8, 2, 1, 1
	}
	assert.Equal(t, wantMeter, meter, "the rejections of writeBatches' lines")
}

// TestMessagesOverTheLimitAreNotReadings: a message of more than 16 KiB is rejected by the
// decoder (too_large) and by silver, however valid its JSON; one of exactly 16 KiB is a reading.
func TestMessagesOverTheLimitAreNotReadings(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	hour := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	line := func(minute, size int) string {
		head := fmt.Sprintf(`{"device_id":"room-1","event_time":"%s","temperature":21.5,"msg_id":"m%d","pad":"`, hour.Add(time.Duration(minute)*time.Minute).Format(time.RFC3339), minute)
		return head + strings.Repeat("x", size-len(head)-2) + `"}`
	}
	lines := []string{line(1, 200), line(2, reading.MaxSize), line(3, reading.MaxSize+1), line(4, 40000)}
	for _, l := range lines[:2] {
		_, err := reading.Decode([]byte(l), reading.Options{})
		require.NoError(t, err)
	}
	for _, l := range lines[2:] {
		_, err := reading.Decode([]byte(l), reading.Options{})
		var rej *reading.Rejection
		require.ErrorAs(t, err, &rej)
		require.Equal(t, reading.TooLarge, rej.Reason)
	}
	writeObject(t, root, lake.Bronze, hour, "iotwatch-bronze-1772349000000000000-000001.json.gz", lines)
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	res, err := e.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.SilverRows)
	silver := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, hour))
	assert.Contains(t, silver, "room-1|m:m1")
	assert.Contains(t, silver, "room-1|m:m2")
	// the object's time, from its name (10 minutes into the hour): the reading's ingested_at
	assert.True(t, silver["room-1|m:m1"].ingested.Equal(hour.Add(10*time.Minute)), "ingested_at %v", silver["room-1|m:m1"].ingested)
	var n, readings int64
	var reasons string
	require.NoError(t, e.DB().QueryRow(`SELECT rejected, valid_readings, rejected_by_reason FROM read_parquet(?)`, e.HourFile(lake.DQHourlyTable, hour)).Scan(&n, &readings, &reasons))
	assert.Equal(t, int64(2), n)
	assert.Equal(t, int64(2), readings)
	assert.JSONEq(t, `{"too_large":2}`, reasons)
	gold := readGold(t, e.DB(), e.GoldFile(hour))
	require.Len(t, gold, 1)
	assert.Equal(t, int64(2), gold[0].readings, "hourly_metrics counts the readings the decoder accepts")
}

// TestLateArrivalsAreCounted: a reading whose bronze object was written more than an hour after
// its hour ended is a late arrival; ingested_at is the first copy's object time.
func TestLateArrivalsAreCounted(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	hour := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string {
		return fmt.Sprintf("iotwatch-bronze-%d-000001.json.gz", hour.Add(d).UnixNano())
	}
	r := func(m int) string {
		return fmt.Sprintf(`{"device_id":"room-1","event_time":"%s","temperature":21.5,"msg_id":"m%d"}`, hour.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), m)
	}
	writeObject(t, root, lake.Bronze, hour, at(5*time.Minute), []string{r(1), r(2)})
	writeObject(t, root, lake.Bronze, hour, at(130*time.Minute), []string{r(2), r(3)}) // 10 minutes past the hour after
	// Firehose's names: stream-version-YYYY-MM-DD-HH-MM-SS-uuid.gz
	writeObject(t, root, lake.Bronze, hour, "iotwatch-bronze-1-2026-03-01-09-30-00-0f8fad5b-d9cb-469f-a165-70867728950e.gz", []string{r(4)})
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	_, err = e.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	silver := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, hour))
	for k, want := range map[string]time.Duration{"room-1|m:m1": 5 * time.Minute, "room-1|m:m2": 5 * time.Minute, "room-1|m:m3": 130 * time.Minute, "room-1|m:m4": 150 * time.Minute} {
		assert.True(t, silver[k].ingested.Equal(hour.Add(want)), "%s ingested_at %v; want %v", k, silver[k].ingested, hour.Add(want))
	}
	assert.Equal(t, int64(2), silver["room-1|m:m2"].copies)
	var late, dups int64
	require.NoError(t, e.DB().QueryRow(`SELECT late_arrivals, duplicates FROM read_parquet(?)`, e.HourFile(lake.DQHourlyTable, hour)).Scan(&late, &dups))
	assert.Equal(t, int64(2), late, "m3 and m4 arrived after 09:00")
	assert.Equal(t, int64(1), dups)
}

// TestDailyAndLocationRollups: daily_metrics over a day's silver rows equals the reference over
// the day's lines (not an average of hours), and location_hourly groups devices by location.
func TestDailyAndLocationRollups(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	perHour := genLake(t, root)
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	require.NoError(t, e.SetDevices(ctx, []device.Device{{ID: "room-1", Location: "lab"}, {ID: "room-2", Location: "lab"},
		{ID: "room-3"}, {ID: "room-4", Location: "office"}, {ID: "room-5", Location: "office"}}))
	res, err := aggregate.NewHandler(e, aggregate.DefaultConfig, nil, nil).Handle(ctx, []byte(`{"from":"2026-03-01T06","to":"2026-03-01T09"}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"2026-03-01"}, res.Days)

	var all []string // the lines silver can hold: those filed under their own hour
	for hour, lines := range perHour {
		for _, l := range lines {
			if r, err := reading.Decode([]byte(l), reading.Options{}); err == nil && r.EventTime.Truncate(time.Hour).Equal(hour) {
				all = append(all, l)
			}
		}
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	want := referenceSpan(all, day, 24*time.Hour, map[string][2]int64{"room-1": {6, 3}, "room-2": {3, 0}})
	got := readDaily(t, e.DB(), e.DayFile(day))
	require.Equal(t, len(want), len(got))
	for i := range want {
		g, w := got[i], want[i]
		assert.Equal(t, []any{w.device, w.readings, int64(1440), w.warn, w.viol}, []any{g.device, g.readings, g.expected, g.warn, g.viol})
		assert.True(t, g.hourStart.Equal(day))
		for k, pair := range [][2]float64{{g.tMin, w.tMin}, {g.tAvg, w.tAvg}, {g.tMax, w.tMax}, {g.tP50, w.tP50}, {g.tP95, w.tP95}, {g.cAvg, w.cAvg}, {g.occ, w.occ}, {g.health, 100 * float64(w.readings) / 1440}} {
			assert.True(t, same(pair[0], pair[1]), "%s value %d = %v; want %v", w.device, k, pair[0], pair[1])
		}
	}

	hour := h0.Add(time.Hour)
	rows, err := e.DB().Query(`SELECT location, devices_known, devices_reporting, readings, health_pct FROM read_parquet(?) ORDER BY location`, e.HourFile(lake.LocationHourlyTable, hour))
	require.NoError(t, err)
	defer rows.Close()
	byDev := map[string]int64{}
	for _, r := range reference(perHour[hour], hour, nil) {
		byDev[r.device] = r.readings
	}
	wantLoc := []string{
		fmt.Sprintf("lab 2 2 %d %.4f", byDev["room-1"]+byDev["room-2"], 100*float64(byDev["room-1"]+byDev["room-2"])/120),
		fmt.Sprintf("office 2 1 %d %.4f", byDev["room-4"], 100*float64(byDev["room-4"])/120),
		fmt.Sprintf("unknown 2 2 %d %.4f", byDev["room-3"]+byDev["room-9"], 100*float64(byDev["room-3"]+byDev["room-9"])/120),
	}
	var gotLoc []string
	for rows.Next() {
		var loc string
		var known, reporting, n int64
		var health float64
		require.NoError(t, rows.Scan(&loc, &known, &reporting, &n, &health))
		gotLoc = append(gotLoc, fmt.Sprintf("%s %d %d %d %.4f", loc, known, reporting, n, health))
	}
	assert.Equal(t, wantLoc, gotLoc)

	// the devices view is the devices given, as Athena reads the snapshot: no location is null
	devs, err := e.Query(ctx, "SELECT device_id || ' ' || coalesce(location, 'null') FROM devices ORDER BY device_id")
	require.NoError(t, err)
	defer devs.Close()
	var gotDevs []string
	for devs.Next() {
		var d string
		require.NoError(t, devs.Scan(&d))
		gotDevs = append(gotDevs, d)
	}
	assert.Equal(t, []string{"room-1 lab", "room-2 lab", "room-3 null", "room-4 office", "room-5 office"}, gotDevs)
}

func readDaily(t *testing.T, db *sql.DB, file string) []row {
	t.Helper()
	dir := t.TempDir()
	// the daily table has hourly_metrics' columns but day_start for hour_start: read it as hours
	tmp := filepath.Join(dir, "as-hours.parquet")
	_, err := db.Exec(fmt.Sprintf(`COPY (SELECT * RENAME (day_start AS hour_start) FROM read_parquet('%s')) TO '%s' (FORMAT parquet)`, file, tmp))
	require.NoError(t, err)
	return readGold(t, db, tmp)
}

// TestCopiesComeWhole: two copies of a reading that differ (a device resending it changed) give
// one silver row whose columns all come from one copy, the first by object: not the smallest
// value of each column.
func TestCopiesComeWhole(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	hour := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	at := hour.Add(5 * time.Minute).Format(time.RFC3339)
	writeObject(t, root, lake.Bronze, hour, "a.json.gz", []string{`{"device_id":"room-1","event_time":"` + at + `","temperature":25,"humidity":40,"msg_id":"m"}`})
	writeObject(t, root, lake.Bronze, hour, "b.json.gz", []string{`{"device_id":"room-1","event_time":"` + at + `","temperature":20,"humidity":50,"msg_id":"m"}`})
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	_, err = e.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	silver := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, hour))
	require.Len(t, silver, 1)
	r := silver["room-1|m:m"]
	assert.Equal(t, []float64{25, 40}, []float64{r.vals[reading.Temperature], r.vals[reading.Humidity]}, "both from a.json.gz")
	assert.Equal(t, int64(2), r.copies)
	assert.Regexp(t, `/a\.json\.gz$`, r.source)
}

// TestCopiesMissingDifferentMetrics: copies that each lack a metric the other has give the first
// copy as it is (its missing metric stays missing), not a mix of both.
func TestCopiesMissingDifferentMetrics(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	hour := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	at := hour.Add(5 * time.Minute).Format(time.RFC3339)
	writeObject(t, root, lake.Bronze, hour, "a.json.gz", []string{`{"device_id":"room-1","event_time":"` + at + `","temperature":25,"msg_id":"m"}`})
	writeObject(t, root, lake.Bronze, hour, "b.json.gz", []string{`{"device_id":"room-1","event_time":"` + at + `","humidity":40,"msg_id":"m"}`})
	e, err := duckdbengine.Open(ctx, root)
	require.NoError(t, err)
	defer e.Close()
	_, err = e.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	r := readSilver(t, e.DB(), e.HourFile(lake.SilverReadingsTable, hour))["room-1|m:m"]
	assert.Equal(t, 25.0, r.vals[reading.Temperature])
	assert.True(t, math.IsNaN(r.vals[reading.Humidity]), "humidity is not taken from the other copy: %v", r.vals[reading.Humidity])
}
