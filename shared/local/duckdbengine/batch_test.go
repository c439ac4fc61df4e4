package duckdbengine_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/lakefiles"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// isBatch: the line is a JSON object with a top-level readings field.
func isBatch(l string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(l), &m) != nil {
		return false
	}
	_, ok := m["readings"]
	return ok
}

// elementHour is the hour of element i's event_time, when the decoder accepts that time, else
// home (the hour of the first element).
func elementHour(l string, i int, home time.Time) time.Time {
	var m struct{ Readings []map[string]json.RawMessage }
	if json.Unmarshal([]byte(l), &m) != nil || i >= len(m.Readings) {
		return home
	}
	var s string
	if json.Unmarshal(m.Readings[i]["event_time"], &s) != nil {
		return home
	}
	t, ok := reading.ParseTime([]byte(s))
	if !ok || t.Before(reading.MinEventTime) || !t.Before(reading.MaxEventTime) {
		return home
	}
	return t.Truncate(time.Hour)
}

// writeLocal files messages in bronze with the local pipeline's writer and returns the lines of
// the objects it wrote, per hour folder, as read back.
func writeLocal(t *testing.T, root string, msgs []string) map[time.Time][]string {
	t.Helper()
	w := lakefiles.NewWriter(root, lake.Bronze, "event_time")
	w.OneLine = true
	for _, m := range msgs {
		require.NoError(t, w.Add([]byte(m)))
	}
	require.NoError(t, w.Flush())
	files, err := filepath.Glob(filepath.Join(root, "bronze", "dt=*", "hour=*", "iotwatch-bronze-*-*.json.gz"))
	require.NoError(t, err)
	out := map[time.Time][]string{}
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Join(root, "bronze"), f)
		hour, err := time.Parse("dt=2006-01-02/hour=15", filepath.Dir(filepath.ToSlash(rel)))
		require.NoError(t, err)
		fh, err := os.Open(f)
		require.NoError(t, err)
		zr, err := gzip.NewReader(fh)
		require.NoError(t, err)
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out[hour] = append(out[hour], sc.Text())
		}
		require.NoError(t, sc.Err())
		fh.Close()
	}
	return out
}

// batchOf is a batched message of meter-7 holding the elements.
func batchOf(elems ...string) string {
	return `{"device_id":"meter-7","readings":[` + strings.Join(elems, ",") + `]}`
}

// writeBatches files batched messages of every kind in genLake's hours (06 to 08) with the local
// writer, and returns the lines per hour folder.
func writeBatches(t *testing.T, root string) map[time.Time][]string {
	at := func(min int) string { return h0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	el := func(min int, rest string) string { return `{"event_time":"` + at(min) + `",` + rest + `}` }
	var msgs []string
	for i, min := range []int{3, 61, 122} { // one batch in each hour
		msgs = append(msgs, batchOf(el(min, fmt.Sprintf(`"co2":%d,"temperature":21.5,"msg_id":"b%d-0"`, 400+i, i)),
			el(min+1, fmt.Sprintf(`"co2":%d,"msg_id":"b%d-1"`, 410+i, i)), el(min+2, fmt.Sprintf(`"humidity":%d`, 40+i))))
	}
	msgs = append(msgs,
		// over two and three hours: the line in each; the first element later than the second
		batchOf(el(58, `"co2":500,"msg_id":"span-0"`), el(59, `"co2":501,"msg_id":"span-1"`), el(60, `"co2":502,"msg_id":"span-2"`), el(61, `"co2":503,"msg_id":"span-3"`)),
		batchOf(el(130, `"co2":600,"msg_id":"back-0"`), el(70, `"co2":601,"msg_id":"back-1"`), el(10, `"co2":602,"msg_id":"back-2"`)),
		// bad elements among good ones, each rejected alone (in its own hour, or in the first
		// element's when its time is not valid)
		batchOf(el(65, `"co2":700,"msg_id":"mix-0"`),
			el(66, `"co2":-1`), // out_of_range
			`{"co2":1}`,        // missing_event_time: the first element's hour
			`{"event_time":"1999-03-01T06:00:00Z","co2":1}`,                 // bad_event_time
			el(5, `"co2":1,"msg_id":7`),                                     // bad_msg_id, in hour 06
			el(125, `"device_id":"meter-8","co2":1`),                        // device_mismatch, in hour 08
			el(67, `"device_id":null,"co2":1`),                              // device_mismatch
			el(68, `"device_id":"meter\u002d7","co2":702,"msg_id":"mix-7"`), // the same device, escaped
			el(69, `"co2":1,"co2":2`),                                       // a name twice in the element: malformed_json
			el(70, `"co2":1,"readings":[]`),                                 // bad_batch: batches do not nest
			el(71, `"voc":3`),                                               // no_metrics
			el(72, `"temperature":"x"`),                                     // bad_metric
			el(73, `"pm25":12,"msg_id":"mix-12"`),                           // a declared metric alone: no_metrics without the catalog
			el(74, `"pm25":5000,"co2":3`),                                   // out of its range with the catalog
			el(75, `"power_w":null,"co2":4,"msg_id":"mix-14"`),              // bad_metric with the catalog
			el(76, `"co2":800,"msg_id":"mix-15","fw":{"co2":1}`),            // an unknown field holding a contract name
		),
		// an element equal to a single reading: one identity, two copies
		batchOf(el(80, `"co2":900,"msg_id":"dup-0"`)),
		`{"device_id":"meter-7","event_time":"`+at(80)+`","co2":900,"msg_id":"dup-0"}`,
		// rejected whole
		`{"device_id":"meter-7","event_time":"`+at(90)+`","readings":[`+el(90, `"co2":1`)+`]}`,
		`{"device_id":"meter-7","msg_id":"x","readings":[`+el(91, `"co2":1`)+`,`+el(151, `"co2":1`)+`]}`,
		`{"device_id":"meter-7","temperature":20,"readings":[`+el(92, `"co2":1`)+`]}`,
		`{"device_id":"meter-7","pm25":20,"readings":[`+el(93, `"co2":1`)+`,`+el(153, `"co2":1`)+`]}`, // bad_batch with the catalog only
		`{"device_id":"meter-7","event_time":null,"readings":[`+el(94, `"co2":1`)+`]}`,
		`{"device_id":"meter-7","readings":[`+el(95, `"co2":1`)+`,7]}`,
		`{"device_id":"meter-7","readings":[`+el(96, `"co2":1`)+`,null]}`,
		`{"device_id":"meter-7","device_id":"meter-7","readings":[`+el(97, `"co2":1`)+`]}`,
		`{"device_id":"meter 7","readings":[`+el(98, `"co2":1`)+`]}`,
		`{"readings":[`+el(99, `"co2":1`)+`]}`,
		`{"device_id":"meter-7","readings":[`+el(100, `"co2":1`)+`],"readings":[]}`,
	)
	var many []string
	for i := range reading.MaxBatch + 1 {
		many = append(many, el(100+i%20, `"co2":1`))
	}
	msgs = append(msgs, batchOf(many...), batchOf(many[:reading.MaxBatch]...))
	return writeLocal(t, root, msgs)
}

// TestABatchCountsAsItsReadings: a batch of readings over two hours, filed by the local writer,
// gives each hour's silver its elements and the same hourly figures as the same readings sent
// one by one; dq_hourly counts the batched line as a bronze record of both hours.
func TestABatchCountsAsItsReadings(t *testing.T) {
	ctx := context.Background()
	h7 := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	var elems, singles []string
	for m := 40; m < 100; m += 3 { // 07:40 to 08:37
		e := fmt.Sprintf(`"event_time":%q,"temperature":%.1f,"co2":%d,"occupancy":%d,"msg_id":"m-%d"`, h7.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), 19+float64(m%7), 400+m, m%2, m)
		elems = append(elems, "{"+e+"}")
		singles = append(singles, `{"device_id":"meter-7",`+e+`}`)
	}
	batched := []string{batchOf(elems[:12]...), batchOf(elems[12:]...)} // the first spans both hours
	run := func(msgs []string) *duckdbengine.Engine {
		root := t.TempDir()
		writeLocal(t, root, msgs)
		e, err := duckdbengine.Open(ctx, root)
		require.NoError(t, err)
		t.Cleanup(func() { e.Close() })
		for _, h := range []time.Time{h7, h7.Add(time.Hour)} {
			_, err := e.AggregateHour(ctx, aggregate.Hour{Start: h, ExpectedReadings: 60})
			require.NoError(t, err)
		}
		return e
	}
	b, s := run(batched), run(singles)
	for _, h := range []time.Time{h7, h7.Add(time.Hour)} {
		bs, ss := readSilver(t, b.DB(), b.HourFile(lake.SilverReadingsTable, h)), readSilver(t, s.DB(), s.HourFile(lake.SilverReadingsTable, h))
		var want []string
		for _, l := range singles {
			r, err := reading.Decode([]byte(l), reading.Options{})
			require.NoError(t, err)
			if r.EventTime.Truncate(time.Hour).Equal(h) {
				want = append(want, "meter-7|m:"+r.MsgID)
			}
		}
		assert.ElementsMatch(t, want, keys(bs), "%s: the batched elements of the hour in silver", h)
		assert.ElementsMatch(t, want, keys(ss), "%s: the single readings of the hour in silver", h)
		for k, r := range bs {
			for m := range r.vals {
				assert.True(t, same(r.vals[m], ss[k].vals[m]), "%s %s %s = %v; one by one %v", h, k, reading.Metric(m), r.vals[m], ss[k].vals[m])
			}
			assert.Equal(t, int64(1), r.copies)
		}
		bg, sg := readGold(t, b.DB(), b.GoldFile(h)), readGold(t, s.DB(), s.GoldFile(h))
		require.Len(t, bg, 1)
		assert.Equal(t, int64(len(want)), bg[0].readings, "%s: hourly_metrics counts the elements", h)
		// NaN (a metric no reading carries) is not equal to itself: compared as text
		assert.Equal(t, fmt.Sprintf("%+v", sg), fmt.Sprintf("%+v", bg), "%s: the same figures, batched or one by one", h)

		var bronze, valid, readings, rejected int64
		require.NoError(t, b.DB().QueryRow(`SELECT bronze_records, valid_records, valid_readings, rejected FROM read_parquet(?)`, b.HourFile(lake.DQHourlyTable, h)).
			Scan(&bronze, &valid, &readings, &rejected))
		wantBronze := int64(1) // the first batch, in both hours
		if h.Equal(h7.Add(time.Hour)) {
			wantBronze = 2
		}
		assert.Equal(t, []int64{wantBronze, int64(len(want)), int64(len(want)), 0}, []int64{bronze, valid, readings, rejected}, "%s: dq_hourly", h)
	}
}

func keys(m map[string]silverRow) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
