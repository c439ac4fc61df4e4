package lakeview

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// files lists the finished objects (not the hidden or .tmp files of a write in progress) of the
// hour partitions of prefix from `from` up to `to`, oldest hour first, as paths. Pages read only
// the hours they show: a lake of months costs what a day of it costs. A lake that cannot be read
// shows what could be.
func (r *Reader) files(prefix string, from, to time.Time, suffix string) []string {
	keys, _ := lake.HourObjects(context.Background(), lake.Dir(r.root), prefix, from, to, suffix)
	for i, k := range keys {
		keys[i] = lake.Dir(r.root).Path(k)
	}
	return keys
}

// goldFiles lists the hourly_metrics files of the hours from `from` up to `to`.
func (r *Reader) goldFiles(from, to time.Time) []string {
	return r.hourFiles(lake.HourlyMetricsTable, from, to)
}

// hourFiles lists the files of a table written per hour (PREFIX/dt=…/hour=HH.parquet) of the
// hours from `from` up to `to`.
func (r *Reader) hourFiles(t lake.Table, from, to time.Time) []string {
	var out []string
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		f := filepath.Join(r.root, filepath.FromSlash(lake.HourFile(t.Prefix, h)))
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// latestHour is the newest hour partition under prefix (false: none), read from the directory
// names only.
func (r *Reader) latestHour(prefix string) (time.Time, bool) {
	return lake.LatestHour(lake.Dir(r.root), prefix)
}

// listLit is a DuckDB list literal of file names.
func listLit(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = "'" + strings.ReplaceAll(f, "'", "''") + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// bronzeSQL reads the readings of the files as typed rows: ts (a timestamp; lines whose
// event_time is not one are left out) and the metrics.
func bronzeSQL(files []string) string {
	return fmt.Sprintf(`SELECT device_id, TRY_CAST(event_time AS TIMESTAMPTZ) AS ts, temperature, humidity, light, co2, occupancy
		FROM read_json(%s, format = 'newline_delimited', ignore_errors = true, columns = {device_id: 'VARCHAR', event_time: 'VARCHAR',
		temperature: 'DOUBLE', humidity: 'DOUBLE', light: 'DOUBLE', co2: 'DOUBLE', occupancy: 'DOUBLE'})`, listLit(files))
}

// goldSQL reads hourly_metrics rows of the files.
func goldSQL(files []string) string {
	return "SELECT * FROM read_parquet(" + listLit(files) + ")"
}

// alertsSQL reads the alerts table's rows of the files.
func alertsSQL(files []string, withFile bool) string {
	file, opt := "", ""
	if withFile {
		file, opt = ", filename AS file", ", filename = true"
	}
	return fmt.Sprintf(`SELECT alert_id, kind, TRY_CAST(alert_time AS TIMESTAMPTZ) AS alert_at, user_id, device_id, rule, severity,
		metric, observed_value, threshold_value, window_start_ms, window_end_ms%s
		FROM read_json(%s, format = 'newline_delimited', ignore_errors = true%s, columns = {alert_id: 'VARCHAR', kind: 'VARCHAR',
		alert_time: 'VARCHAR', user_id: 'VARCHAR', device_id: 'VARCHAR', rule: 'VARCHAR', severity: 'VARCHAR', metric: 'VARCHAR',
		observed_value: 'DOUBLE', threshold_value: 'DOUBLE', window_start_ms: 'BIGINT', window_end_ms: 'BIGINT'})`, file, listLit(files), opt)
}

// query runs one of the pages' own statements (never people's SQL: that is `iotwatch query`).
func (r *Reader) query(ctx context.Context, what, q string, args []any, scan func(scanner) error) error {
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}

// goldRow is one device-hour of the hourly metrics, as the overview and the heatmap read it.
type goldRow struct {
	device             string
	hour               time.Time // UTC
	readings, expected int64
	temp               sql.NullFloat64 // temperature_avg
}

// goldHours calls each for every device-hour of the hourly metrics from `from` up to `to`, and
// says whether there were any hourly metrics to read.
func (r *Reader) goldHours(ctx context.Context, from, to time.Time, each func(goldRow)) (bool, error) {
	rel, err := r.rows(ctx, r.gold, from, to)
	if rel == "" || err != nil {
		return false, err
	}
	return true, r.query(ctx, "hourly metrics", "SELECT device_id, hour_start, readings, expected_readings, temperature_avg FROM "+rel, nil,
		func(rs scanner) error {
			var g goldRow
			if err := rs.Scan(&g.device, &g.hour, &g.readings, &g.expected, &g.temp); err != nil {
				return err
			}
			g.hour = g.hour.UTC()
			each(g)
			return nil
		})
}

// scanner is a row being read.
type scanner interface{ Scan(dest ...any) error }

// null turns a nullable double into a chart value (nil: a gap).
func null(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	return &v.Float64
}
