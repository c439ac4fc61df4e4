package duckdbengine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

const benchDevices, benchObjects = 10000, 20

// benchLake writes one hour of 10,000 devices at one reading a minute (600,000 readings) as 20
// gzip JSON-lines objects.
func benchLake(b *testing.B) (string, time.Time) {
	b.Helper()
	root := b.TempDir()
	hour := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	dir := filepath.Join(root, filepath.FromSlash(lake.Partition(lake.Bronze, hour)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	n := 0
	for o := 0; o < benchObjects; o++ {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		line := make([]byte, 0, 256)
		for i := 0; i < benchDevices*60/benchObjects; i++ {
			k := o*benchDevices*60/benchObjects + i
			d, m := k%benchDevices, k/benchDevices
			line = line[:0]
			line = append(line, `{"device_id":"dev-`...)
			line = strconv.AppendInt(line, int64(d), 10)
			line = append(line, `","event_time":"`...)
			line = hour.Add(time.Duration(m)*time.Minute+time.Duration(d%60)*time.Second).AppendFormat(line, time.RFC3339)
			line = append(line, `","temperature":`...)
			line = strconv.AppendFloat(line, 19+float64((d*7+m*13)%700)/100, 'f', 2, 64)
			line = append(line, `,"humidity":31.5,"light":`...)
			line = strconv.AppendInt(line, int64((d+m)%600), 10)
			line = append(line, `,"co2":`...)
			line = strconv.AppendInt(line, int64(400+(d*m)%900), 10)
			line = append(line, `,"humidity_ratio":0.0047,"occupancy":`...)
			line = strconv.AppendInt(line, int64((d+m/20)%2), 10)
			line = append(line, `,"msg_id":"dev-`...)
			line = strconv.AppendInt(line, int64(d), 10)
			line = append(line, '-')
			line = strconv.AppendInt(line, int64(m), 10)
			line = append(line, "\"}\n"...)
			zw.Write(line)
			n++
		}
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.json.gz", o)), buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if n != benchDevices*60 {
		b.Fatalf("wrote %d readings", n)
	}
	return root, hour
}

// BenchmarkAggregateHour: one hour of 600,000 readings.
//   - bronze_json: the first edition's statement (testdata/bronze-path-8b02cb5.sql), hourly_metrics
//     straight from the bronze JSON: the baseline;
//   - silver_write: the silver COPY (bronze lines to silver_readings);
//   - gold_from_silver: hourly_metrics from that silver file, to set beside bronze_json;
//   - engine: all of AggregateHour (silver, then hourly_metrics, dq_hourly and location_hourly).
func BenchmarkAggregateHour(b *testing.B) {
	root, hour := benchLake(b)
	ctx := context.Background()
	e, err := duckdbengine.Open(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	h := aggregate.Hour{Start: hour, ExpectedReadings: 60}
	files, _ := filepath.Glob(filepath.Join(root, "bronze", "*", "*", "*"))
	readings := func(b *testing.B) {
		b.ReportMetric(float64(benchDevices*60*b.N)/b.Elapsed().Seconds(), "readings/s")
	}
	// exec(b)(statement) runs the statement b.N times and reports the rate
	exec := func(b *testing.B) func(aggregate.Statement, error) {
		return func(st aggregate.Statement, err error) { execN(b, e, st, err); readings(b) }
	}
	b.Run("bronze_json", func(b *testing.B) {
		text, err := os.ReadFile("testdata/bronze-path-8b02cb5.sql")
		if err != nil {
			b.Fatal(err)
		}
		q := strings.NewReplacer("{{BRONZE}}", sqlList(files), "{{OUTPUT}}", "'"+filepath.Join(b.TempDir(), "out.parquet")+"'").Replace(string(text))
		exec(b)(aggregate.Statement{SQL: q, Params: []aggregate.Param{{Value: int64(946684800000)}, {Value: int64(7258118400000)},
			{Value: hour.UnixMilli()}, {Value: hour.Add(time.Hour).UnixMilli()}, {Value: hour.UnixMilli()}, {Value: hour.Add(time.Hour).UnixMilli()}, {Value: int64(60)}}}, nil)
	})
	silver := filepath.Join(b.TempDir(), "silver.parquet")
	b.Run("silver_write", func(b *testing.B) {
		exec(b)(aggregate.DuckDBStatement(aggregate.SilverLayer, aggregate.DuckDBFiles{Bronze: files}, silver, h))
	})
	b.Run("gold_from_silver", func(b *testing.B) {
		exec(b)(aggregate.DuckDBStatement(aggregate.HourlyLayer, aggregate.DuckDBFiles{Silver: []string{silver}}, filepath.Join(b.TempDir(), "out.parquet"), h))
	})
	b.Run("engine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, err := e.AggregateHour(ctx, h)
			if err != nil {
				b.Fatal(err)
			}
			if res.Rows != benchDevices || res.SilverRows != benchDevices*60 {
				b.Fatalf("%d rows, %d silver rows; want %d and %d", res.Rows, res.SilverRows, benchDevices, benchDevices*60)
			}
		}
		readings(b)
	})
}

func sqlList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// execN runs a statement b.N times.
func execN(b *testing.B, e *duckdbengine.Engine, st aggregate.Statement, err error) {
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := e.Exec(context.Background(), st); err != nil {
			b.Fatal(err)
		}
	}
}
