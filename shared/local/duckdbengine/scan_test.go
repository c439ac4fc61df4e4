package duckdbengine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// BenchmarkLakeScan reports what a one-device query reads from bronze and from silver over a
// generated day of 1,000 devices reporting once a minute (1.44 million readings): bronze is JSON,
// so a query reads every object of the day's partitions whole; silver is Parquet sorted by device
// and time, so it reads the columns it names (device_id, event_time, temperature) of the row
// groups whose device_id statistics hold the device. A month is 30 such days on both sides: the
// ratio is the month's.
//
// The hourly job's scan is reported too: each hour's bronze is read twice (silver, dq_hourly), its
// silver three times (hourly_metrics, dq_hourly, location_hourly). LAKESCAN_DAYS=7 makes it a week.
func BenchmarkLakeScan(b *testing.B) {
	days := 1
	if v, err := strconv.Atoi(os.Getenv("LAKESCAN_DAYS")); err == nil && v > 0 {
		days = v
	}
	l := lakegen.Make(b, lakegen.Options{Devices: 1000, RawDays: days, RealGold: true})
	size := func(glob string) (n int64) {
		files, _ := filepath.Glob(filepath.Join(l.Root, glob))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	bronze, silver := size("bronze/dt=*/hour=*/*.json.gz"), size("silver/readings/dt=*/hour=*.parquet")
	ctx := context.Background()
	e, err := duckdbengine.Open(ctx, l.Root)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var read int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := e.DB().QueryRowContext(ctx, `SELECT sum(total_compressed_size) FROM parquet_metadata(?)
			WHERE path_in_schema IN ('device_id', 'event_time', 'temperature') AND (file_name, row_group_id) IN (
				SELECT file_name, row_group_id FROM parquet_metadata(?)
				WHERE path_in_schema = 'device_id' AND stats_min_value <= ? AND stats_max_value >= ?)`,
			filepath.Join(l.Root, "silver/readings/dt=*/hour=*.parquet"), filepath.Join(l.Root, "silver/readings/dt=*/hour=*.parquet"),
			lakegen.DeviceID(7), lakegen.DeviceID(7)).Scan(&read)
		if err != nil {
			b.Fatal(err)
		}
	}
	d := float64(days)
	b.ReportMetric(float64(bronze)/d, "bronze-bytes/day")
	b.ReportMetric(float64(silver)/d, "silver-bytes/day")
	b.ReportMetric(float64(read)/d, "one-device-silver-bytes/day")
	b.ReportMetric(float64(bronze)/float64(read), "bronze/silver-scan")
	b.ReportMetric((2*float64(bronze)+3*float64(silver))/(24*d), "hourly-job-bytes/hour")
}
