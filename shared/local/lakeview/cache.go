package lakeview

import (
	"context"
	"fmt"
	"os"
	"time"
)

// The pages read the hourly metrics of the last month and the alerts of the last two months on
// almost every page: reading 720 Parquet files for a device's month costs ~200 ms, most of it
// opening the files. A cache keeps those rows in DuckDB tables of its own (in memory), and on
// each page reads again only the files that appeared or changed since (a re-aggregated hour is
// replaced), and forgets what left the window. Older ranges (a report) read the files.
const (
	goldWindow   = 31 * 24 * time.Hour
	alertsWindow = 61 * 24 * time.Hour
)

// stamp is what says a file changed: an hour re-aggregated is a new file renamed over the old.
type stamp struct {
	mod  time.Time
	size int64
}

// cache is one table of cached rows, by the file they came from.
type cache struct {
	table  string
	window time.Duration
	list   func(r *Reader, from, to time.Time) []string
	sel    func(files []string) string // the rows of the files, with a column file
	timeOf string                      // the column the window is kept by
	files  map[string]stamp
	from   time.Time // the window's start when last refreshed
}

func newCaches() (gold, alerts *cache) {
	gold = &cache{table: "dash_gold", window: goldWindow, list: (*Reader).goldFiles, timeOf: "hour_start", files: map[string]stamp{},
		sel: func(files []string) string {
			return "SELECT * EXCLUDE (filename), filename AS file FROM read_parquet(" + listLit(files) + ", filename = true)"
		}}
	alerts = &cache{table: "dash_alerts", window: alertsWindow, timeOf: "alert_at", files: map[string]stamp{},
		list: func(r *Reader, from, to time.Time) []string { return r.files("alerts", from, to, ".json.gz") },
		sel:  func(files []string) string { return alertsSQL(files, true) }}
	return gold, alerts
}

// refresh brings the cache up to the files of its window ending at now.
func (r *Reader) refresh(ctx context.Context, c *cache, now time.Time) error {
	from := now.Truncate(time.Hour).Add(-c.window)
	current := map[string]stamp{}
	for _, f := range c.list(r, from, now.Add(time.Hour)) {
		if fi, err := os.Stat(f); err == nil {
			current[f] = stamp{fi.ModTime(), fi.Size()}
		}
	}
	var gone, added []string
	for f, st := range c.files {
		if cur, ok := current[f]; !ok || cur != st {
			gone = append(gone, f)
		}
	}
	for f, st := range current {
		if old, ok := c.files[f]; !ok || old != st {
			added = append(added, f)
		}
	}
	if c.files == nil || len(c.files) == 0 && len(added) > 0 {
		// The first load defines the table from the files' own columns.
		if _, err := r.db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+c.table+" AS "+c.sel(added)); err != nil {
			return fmt.Errorf("caching %s: %w", c.table, err)
		}
		c.files, c.from = current, from
		return nil
	}
	if len(gone) > 0 {
		if _, err := r.db.ExecContext(ctx, "DELETE FROM "+c.table+" WHERE file IN (SELECT unnest("+listLit(gone)+"))"); err != nil {
			return fmt.Errorf("refreshing %s: %w", c.table, err)
		}
		for _, f := range gone {
			delete(c.files, f)
		}
	}
	if len(added) > 0 {
		if _, err := r.db.ExecContext(ctx, "INSERT INTO "+c.table+" BY NAME "+c.sel(added)); err != nil {
			return fmt.Errorf("refreshing %s: %w", c.table, err)
		}
		for _, f := range added {
			c.files[f] = current[f]
		}
	}
	c.from = from
	return nil
}

// rows is a relation of the table's rows with timeOf in [from, to): the cache when the range is
// inside its window, the files otherwise; "" when there is none.
func (r *Reader) rows(ctx context.Context, c *cache, from, to time.Time) (string, error) {
	now := r.now
	if !from.Before(now.Truncate(time.Hour).Add(-c.window)) && !to.After(now.Add(time.Hour)) {
		if err := r.refresh(ctx, c, now); err != nil {
			return "", err
		}
		if len(c.files) == 0 {
			return "", nil
		}
		return fmt.Sprintf("(SELECT * FROM %s WHERE %s >= %s AND %s < %s)", c.table, c.timeOf, tsLit(from), c.timeOf, tsLit(to)), nil
	}
	files := c.list(r, from, to)
	if len(files) == 0 {
		return "", nil
	}
	return fmt.Sprintf("(SELECT * FROM (%s) WHERE %s >= %s AND %s < %s)", c.sel(files), c.timeOf, tsLit(from), c.timeOf, tsLit(to)), nil
}

func tsLit(t time.Time) string {
	return "TIMESTAMPTZ '" + t.UTC().Format("2006-01-02 15:04:05.999999999") + "+00'"
}
