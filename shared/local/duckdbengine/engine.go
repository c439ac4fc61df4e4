// Package duckdbengine runs the hourly aggregation and ad-hoc SQL over a local lake directory with
// DuckDB: the same statements Athena runs on AWS (rendered by shared/service/aggregate for DuckDB), over
// DIR/bronze and DIR/alerts (gzip JSON lines in dt=/hour= folders), writing
// DIR/gold/hourly_metrics/dt=YYYY-MM-DD/hour=HH.parquet. It needs cgo; no Lambda imports it.
package duckdbengine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the database/sql driver "duckdb"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Engine is DuckDB over one lake directory.
type Engine struct {
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
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("starting DuckDB: %w", err)
	}
	db.SetMaxOpenConns(1) // one connection: the session settings below hold for every statement
	if _, err := db.ExecContext(ctx, "SET TimeZone = 'UTC'"); err != nil {
		db.Close()
		return nil, fmt.Errorf("setting DuckDB's time zone: %w", err)
	}
	return &Engine{db: db, root: abs}, nil
}

// Close releases DuckDB.
func (e *Engine) Close() error { return e.db.Close() }

// hourFiles lists the files of one hour partition under prefix, sorted.
func (e *Engine) hourFiles(prefix string, hour time.Time) ([]string, error) {
	dir := filepath.Join(e.root, filepath.FromSlash(lake.Partition(prefix, hour)))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, en := range entries {
		if en.Type().IsRegular() && !strings.HasPrefix(en.Name(), ".") {
			out = append(out, filepath.Join(dir, en.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// GoldFile is where one hour's rows are written.
func (e *Engine) GoldFile(hour time.Time) string {
	h := hour.UTC()
	return filepath.Join(e.root, lake.Gold, "hourly_metrics", "dt="+h.Format("2006-01-02"), "hour="+h.Format("15")+".parquet")
}

// AggregateHour replaces the hour's Parquet file: written beside it, then renamed over it, so a
// reader sees the old rows or the new ones, never a mix, and a re-run gives the same rows. An hour
// with no bronze data has no file.
func (e *Engine) AggregateHour(ctx context.Context, h aggregate.Hour) (aggregate.HourResult, error) {
	start := time.Now()
	res := aggregate.HourResult{Hour: h.Start}
	bronze, err := e.hourFiles(lake.Bronze, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing bronze: %w", err)
	}
	out := e.GoldFile(h.Start)
	if len(bronze) == 0 {
		if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
		res.Duration = time.Since(start)
		return res, nil
	}
	alerts, err := e.hourFiles(lake.Alerts, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing alerts: %w", err)
	}
	rejections, err := e.hourFiles(lake.Rejections, h.Start)
	if err != nil {
		return res, fmt.Errorf("listing the rejections index: %w", err)
	}
	for _, f := range bronze {
		if fi, err := os.Stat(f); err == nil {
			res.BytesScanned += fi.Size()
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return res, err
	}
	tmp := out + ".tmp"
	st, err := aggregate.DuckDBStatement(aggregate.DuckDBFiles{Bronze: bronze, Alerts: alerts, Rejections: rejections}, tmp, h)
	if err != nil {
		return res, err
	}
	if _, err := e.db.ExecContext(ctx, st.SQL, args(st)...); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("aggregating %s: %w", h.Start.Format(aggregate.HourLayout), err)
	}
	if err := e.db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet(?)", tmp).Scan(&res.Rows); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("reading back %s: %w", tmp, err)
	}
	if res.Rows == 0 {
		os.Remove(tmp) // no valid reading: the hour has no rows
		if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	} else if err := os.Rename(tmp, out); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	return res, nil
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
