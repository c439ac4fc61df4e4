// Package duckdbengine runs the aggregation and ad-hoc SQL over a local lake directory with DuckDB:
// the same statements Athena runs on AWS (rendered by shared/service/aggregate for DuckDB), over
// DIR/bronze, DIR/alerts and DIR/rejections (gzip JSON lines in dt=/hour= folders), writing
// DIR/silver/readings/dt=YYYY-MM-DD/hour=HH.parquet, then from it DIR/gold/hourly_metrics,
// gold/dq_hourly, gold/location_hourly and gold/hourly_metric_values (the same layout) and
// gold/daily_metrics/dt=…/day.parquet and gold/daily_metric_values/dt=…/day.parquet.
// It needs cgo; no Lambda imports it.
package duckdbengine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Engine is DuckDB over one lake directory.
type Engine struct {
	seq      atomic.Int64 // temporary file names
	db       *sql.DB
	root     string
	readOnly bool // OpenReadOnly: views defined, locked to the lake, one SELECT a query
}

var _ aggregate.HourAggregator = (*Engine)(nil)

// Open starts an in-memory DuckDB for the lake at root (created if missing).
func Open(ctx context.Context, root string) (*Engine, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating the lake directory: %w", err)
	}
	// Every connection starts in UTC (the pool keeps one, but replaces it if it breaks); what the
	// engine keeps (the devices, an hour's checked lines) is in tables of the in-memory database,
	// which every connection of the connector shares.
	conn, err := duckdb.NewConnector("", func(ex driver.ExecerContext) error {
		// not Open's context: a connection may be made again long after it ended
		_, err := ex.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("starting DuckDB: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1) // one connection: the session settings below hold for every statement
	// the devices' metadata, for location_hourly and the devices view (SetDevices)
	if _, err := db.ExecContext(ctx, "CREATE TABLE iotwatch_devices (device_id VARCHAR PRIMARY KEY, name VARCHAR, location VARCHAR)"); err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing DuckDB: %w", err)
	}
	return &Engine{db: db, root: abs}, nil
}

// SetDevices gives the engine the devices' metadata: location_hourly groups readings by their
// device's location ('unknown' for a device without one), and the devices view (lake.DevicesTable,
// the snapshot Athena reads on AWS) lists them.
func (e *Engine) SetDevices(ctx context.Context, devs []device.Device) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, "DELETE FROM iotwatch_devices"); err != nil {
		return fmt.Errorf("setting the devices: %w", err)
	}
	for _, d := range devs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO iotwatch_devices VALUES (?, ?, ?)", d.ID, d.Name, d.Location); err != nil {
			return fmt.Errorf("setting device %s: %w", d.ID, err)
		}
	}
	return tx.Commit()
}

// Close releases DuckDB.
func (e *Engine) Close() error { return e.db.Close() }

// hourFiles lists the files of one hour partition under prefix, sorted, as paths.
func (e *Engine) hourFiles(ctx context.Context, prefix string, hour time.Time) ([]string, error) {
	keys, err := lake.HourObjects(ctx, lake.Dir(e.root), prefix, hour, hour.Add(time.Hour), "")
	for i, k := range keys {
		keys[i] = lake.Dir(e.root).Path(k)
	}
	return keys, err
}

// GoldFile is where one hour's hourly_metrics rows are written.
func (e *Engine) GoldFile(hour time.Time) string { return e.HourFile(lake.HourlyMetricsTable, hour) }

// HourFile is where one hour's rows of a table written per hour are: PREFIX/dt=…/hour=HH.parquet.
func (e *Engine) HourFile(t lake.Table, hour time.Time) string {
	return filepath.Join(e.root, filepath.FromSlash(lake.HourFile(t.Prefix, hour)))
}

// DayFile is where one UTC day's daily_metrics rows are: PREFIX/dt=…/day.parquet.
func (e *Engine) DayFile(day time.Time) string { return e.DayTableFile(lake.DailyMetricsTable, day) }

// DayTableFile is where one UTC day's rows of a table written per day are: PREFIX/dt=…/day.parquet.
func (e *Engine) DayTableFile(t lake.Table, day time.Time) string {
	return filepath.Join(e.root, filepath.FromSlash(lake.DayFile(t.Prefix, day)))
}

// The day's layers, and the table each writes.
var dayLayers = []struct {
	name  string
	table lake.Table
}{
	{aggregate.DailyLayer, lake.DailyMetricsTable},
	{aggregate.DailyValuesLayer, lake.DailyMetricValuesTable},
}

// The hour's layers after silver, and the table each writes.
var hourLayers = []struct {
	name  string
	table lake.Table
}{
	{aggregate.HourlyLayer, lake.HourlyMetricsTable},
	{aggregate.DQLayer, lake.DQHourlyTable},
	{aggregate.LocationLayer, lake.LocationHourlyTable},
	{aggregate.HourlyValuesLayer, lake.HourlyMetricValuesTable},
}

// layerFiles are the files of the hour's layers after silver.
func (e *Engine) layerFiles(hour time.Time) []string {
	out := make([]string, len(hourLayers))
	for i, l := range hourLayers {
		out[i] = e.HourFile(l.table, hour)
	}
	return out
}

// AggregateHour writes the hour's silver_readings from bronze, then its hourly_metrics, dq_hourly,
// location_hourly and hourly_metric_values from that silver (h.Catalog: the declared metrics). Each file is written beside its place, then renamed over
// it, so a reader sees the old rows or the new ones, never a mix, and a re-run gives the same
// rows. An hour with no bronze data has no files; a table with no rows for the hour has no file.
func (e *Engine) AggregateHour(ctx context.Context, h aggregate.Hour) (aggregate.HourResult, error) {
	start := time.Now()
	res := aggregate.HourResult{Hour: h.Start}
	bronze, err := e.hourFiles(ctx, lake.Bronze, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing bronze: %w", err)
	}
	silver := e.HourFile(lake.SilverReadingsTable, h.Start)
	if len(bronze) == 0 {
		for _, f := range append([]string{silver}, e.layerFiles(h.Start)...) {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, err
			}
		}
		res.Duration = time.Since(start)
		return res, nil
	}
	alerts, err := e.hourFiles(ctx, lake.Alerts, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing alerts: %w", err)
	}
	rejections, err := e.hourFiles(ctx, lake.Rejections, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing the rejections index: %w", err)
	}
	for _, f := range bronze {
		if fi, err := os.Stat(f); err == nil {
			res.BytesScanned += fi.Size()
		}
	}
	// The hour's lines are read and checked once, for silver and dq_hourly (a table of the hour's
	// own: hours are aggregated concurrently).
	files := aggregate.DuckDBFiles{Bronze: bronze, Alerts: alerts, Rejections: rejections,
		Checked: "iotwatch_checked_" + strings.NewReplacer("-", "_", "T", "_").Replace(h.Start.UTC().Format(aggregate.HourLayout))}
	checked, err := aggregate.DuckDBCheckedStatement(files, h)
	if err != nil {
		return res, err
	}
	if _, err := e.db.ExecContext(ctx, checked.SQL, args(checked)...); err != nil {
		return res, fmt.Errorf("reading bronze of %s: %w", h.Start.Format(aggregate.HourLayout), err)
	}
	defer func() { // a leftover would be replaced by the next run of the hour
		_, _ = e.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+files.Checked)
	}()
	n, err := e.write(ctx, silver, func(tmp string) (aggregate.Statement, error) {
		return aggregate.DuckDBStatement(aggregate.SilverLayer, files, tmp, h)
	})
	if err != nil {
		return res, fmt.Errorf("writing silver of %s: %w", h.Start.Format(aggregate.HourLayout), err)
	}
	res.SilverRows = n
	if n > 0 {
		files.Silver = []string{silver}
		if fi, err := os.Stat(silver); err == nil {
			res.BytesScanned += fi.Size()
		}
	}
	for _, l := range hourLayers {
		n, err := e.write(ctx, e.HourFile(l.table, h.Start), func(tmp string) (aggregate.Statement, error) {
			return aggregate.DuckDBStatement(l.name, files, tmp, h)
		})
		if err != nil {
			return res, fmt.Errorf("writing %s of %s: %w", l.table.Name, h.Start.Format(aggregate.HourLayout), err)
		}
		if l.table.Name == lake.HourlyMetricsTable.Name {
			res.Rows = n
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// AggregateDay writes a UTC day's daily_metrics and daily_metric_values from its silver files
// (none: no files).
func (e *Engine) AggregateDay(ctx context.Context, d aggregate.Day) (aggregate.HourResult, error) {
	start := time.Now()
	res := aggregate.HourResult{Hour: d.Start}
	var silver []string
	for _, h := range lake.Hours(d.Start, d.Start.Add(24*time.Hour)) {
		if f := e.HourFile(lake.SilverReadingsTable, h); exists(f) {
			silver = append(silver, f)
		}
	}
	if len(silver) == 0 {
		for _, l := range dayLayers {
			if err := os.Remove(e.DayTableFile(l.table, d.Start)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, err
			}
		}
		return res, nil
	}
	var alerts []string
	for h := 0; h < 24; h++ {
		f, err := e.hourFiles(ctx, lake.Alerts, d.Start.Add(time.Duration(h)*time.Hour))
		if err != nil {
			return res, fmt.Errorf("listing alerts: %w", err)
		}
		alerts = append(alerts, f...)
	}
	for _, f := range silver {
		if fi, err := os.Stat(f); err == nil {
			res.BytesScanned += fi.Size()
		}
	}
	for _, l := range dayLayers {
		n, err := e.write(ctx, e.DayTableFile(l.table, d.Start), func(tmp string) (aggregate.Statement, error) {
			return aggregate.DuckDBDayStatement(l.name, aggregate.DuckDBFiles{Silver: silver, Alerts: alerts}, tmp, d)
		})
		if err != nil {
			return res, fmt.Errorf("writing %s of %s: %w", l.table.Name, d.Start.Format("2006-01-02"), err)
		}
		if l.table.Name == lake.DailyMetricsTable.Name {
			res.Rows = n
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// write runs the COPY statement made for a temporary file beside out, counts its rows, and
// renames it over out; with no rows, out is removed instead.
func (e *Engine) write(ctx context.Context, out string, statement func(tmp string) (aggregate.Statement, error)) (int64, error) {
	if err := durable.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, err
	}
	// a name of its own: another process on the lake (iotwatch aggregate beside iotwatch run)
	// never writes the same temporary file; the views read *.parquet only
	tmp := fmt.Sprintf("%s.tmp-%d-%d", out, os.Getpid(), e.seq.Add(1))
	st, err := statement(tmp)
	if err != nil {
		return 0, err
	}
	if _, err := e.db.ExecContext(ctx, st.SQL, args(st)...); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	var rows int64
	if err := e.db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet(?)", tmp).Scan(&rows); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("reading back %s: %w", tmp, err)
	}
	if rows == 0 {
		os.Remove(tmp)
		if err := os.Remove(out); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return 0, nil
			}
			return 0, err
		}
		return 0, durable.SyncDir(filepath.Dir(out))
	}
	// durable before it is visible: the file, then its name in the directory
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return rows, durable.SyncDir(filepath.Dir(out))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}

func args(st aggregate.Statement) []any {
	out := make([]any, len(st.Params))
	for i, p := range st.Params {
		out[i] = p.Value
	}
	return out
}

// Exec runs a statement rendered for DuckDB (benchmarks compare it with AggregateHour).
func (e *Engine) Exec(ctx context.Context, st aggregate.Statement) error {
	_, err := e.db.ExecContext(ctx, st.SQL, args(st)...)
	return err
}

// DB exposes the connection (for tests and the query command).
func (e *Engine) DB() *sql.DB { return e.db }

// Root is the lake's directory, absolute.
func (e *Engine) Root() string { return e.root }

// exists reports whether a file is there.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
