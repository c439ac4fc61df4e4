package duckdbengine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// structLiteral is read_json's columns argument: {name: 'TYPE', ...}.
func structLiteral(cols []lake.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + ": '" + c.Type.DuckDB() + "'"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (e *Engine) has(pattern string) bool {
	m, _ := filepath.Glob(filepath.Join(e.root, filepath.FromSlash(pattern)))
	return len(m) > 0
}

// ElementAt makes element_at(x, k) of a query on the lake mean what it means on Athena (Trino):
// a map's value of key k, NULL when the map lacks it, and a list's k-th element. DuckDB's own
// element_at of a map is a one-element list; a macro of the database shadows it. So a query of
// silver's metrics reads the same on both: element_at(metrics, 'pm25'). (metrics['pm25'] works
// in DuckDB too, but fails on Athena for a reading without pm25.)
const ElementAt = "CREATE OR REPLACE MACRO element_at(x, k) AS x[k]"

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// DefineViews creates the views of the lake's tables (lake.BronzeReadingsTable, AlertsTable,
// SilverReadingsTable, HourlyMetricsTable, DailyMetricsTable, DQHourlyTable, LocationHourlyTable,
// HourlyMetricValuesTable, DailyMetricValuesTable) over the lake as it is now (an empty view where
// the lake has no file yet), and of lake.DevicesTable over the devices SetDevices gave (none:
// empty). It also makes element_at Athena's: see ElementAt.
func (e *Engine) DefineViews(ctx context.Context) error {
	if _, err := e.db.ExecContext(ctx, ElementAt); err != nil {
		return fmt.Errorf("defining element_at: %w", err)
	}
	glob := func(p string) string { return lit(filepath.Join(e.root, filepath.FromSlash(p))) }
	jsonView := func(t lake.Table) string {
		pattern := lake.PartitionGlob(t.Prefix) + "*.json.gz" // finished objects only, not the .tmp of a write in progress
		if !e.has(pattern) {
			return lake.EmptySelect(append(append([]lake.Column{}, t.Columns...), lake.PartitionColumns...))
		}
		return fmt.Sprintf("SELECT * FROM read_json(%s, format = 'newline_delimited', ignore_errors = true, columns = %s, hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'})",
			glob(pattern), structLiteral(t.Columns))
	}
	goldView := func(t lake.Table) string {
		pattern := lake.DayGlob(t.Prefix) + "*.parquet" // not the .parquet.tmp of a write in progress
		if !e.has(pattern) {
			return lake.EmptySelect(t.Columns)
		}
		// by name: files written before a column was added (silver's metrics) read it as NULL
		return fmt.Sprintf("SELECT * EXCLUDE (dt) FROM read_parquet(%s, hive_partitioning = true, union_by_name = true)", glob(pattern))
	}
	for _, v := range []struct {
		t   lake.Table
		sql string
	}{
		{lake.BronzeReadingsTable, jsonView(lake.BronzeReadingsTable)},
		{lake.AlertsTable, jsonView(lake.AlertsTable)},
		{lake.SilverReadingsTable, goldView(lake.SilverReadingsTable)},
		{lake.HourlyMetricsTable, goldView(lake.HourlyMetricsTable)},
		{lake.DailyMetricsTable, goldView(lake.DailyMetricsTable)},
		{lake.DQHourlyTable, goldView(lake.DQHourlyTable)},
		{lake.LocationHourlyTable, goldView(lake.LocationHourlyTable)},
		{lake.HourlyMetricValuesTable, goldView(lake.HourlyMetricValuesTable)},
		{lake.DailyMetricValuesTable, goldView(lake.DailyMetricValuesTable)},
		// as the snapshot's JSON lines read on AWS: an empty name or location is null
		{lake.DevicesTable, "SELECT device_id, nullif(name, '') AS name, nullif(location, '') AS location FROM iotwatch_devices"},
	} {
		if _, err := e.db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+v.t.Name+" AS "+v.sql); err != nil {
			return fmt.Errorf("defining view %s: %w", v.t.Name, err)
		}
	}
	return nil
}

// OpenReadOnly opens DuckDB over the lake at root for people's SQL (`iotwatch query`): it defines
// the views, then locks the engine to the lake. No file outside root can be read or written, no
// extension is installed or loaded, the configuration cannot be changed back, and Query takes one
// SELECT (or WITH … SELECT) statement and nothing else: a query over a shared lake reads the lake.
func OpenReadOnly(ctx context.Context, root string) (*Engine, error) {
	e, err := Open(ctx, root)
	if err != nil {
		return nil, err
	}
	if err := e.DefineViews(ctx); err != nil {
		e.Close()
		return nil, err
	}
	for _, set := range []string{
		"SET allowed_directories = [" + lit(e.root+string(filepath.Separator)) + "]",
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET lock_configuration = true",
	} {
		if _, err := e.db.ExecContext(ctx, set); err != nil {
			e.Close()
			return nil, fmt.Errorf("locking DuckDB to the lake (%s): %w", set, err)
		}
	}
	e.readOnly = true
	return e, nil
}

// ErrNotAQuery refuses anything but one SELECT statement on a read-only engine.
var ErrNotAQuery = errors.New("only one SELECT (or WITH … SELECT) statement is accepted")

// Query runs SQL against the views. On a read-only engine (OpenReadOnly) it must be exactly one
// SELECT statement, which DuckDB's own parser decides (json_serialize_sql serializes SELECT
// statements only).
func (e *Engine) Query(ctx context.Context, query string) (*sql.Rows, error) {
	if !e.readOnly {
		if err := e.DefineViews(ctx); err != nil {
			return nil, err
		}
		return e.db.QueryContext(ctx, query)
	}
	var parsed string
	if err := e.db.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)", query).Scan(&parsed); err != nil {
		return nil, fmt.Errorf("parsing the query: %w", err)
	}
	var p struct {
		Error        bool              `json:"error"`
		ErrorMessage string            `json:"error_message"`
		Statements   []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(parsed), &p); err != nil {
		return nil, fmt.Errorf("parsing the query: %w", err)
	}
	if p.Error || len(p.Statements) != 1 {
		detail := p.ErrorMessage
		if detail == "" {
			detail = fmt.Sprintf("%d statements", len(p.Statements))
		}
		return nil, fmt.Errorf("%w (%s)", ErrNotAQuery, detail)
	}
	return e.db.QueryContext(ctx, query)
}
