package duckdbengine

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// The views `iotwatch query` offers, named and shaped as the Athena tables are.
type column struct{ name, typ string }

var (
	bronzeColumns = []column{{"device_id", "VARCHAR"}, {"event_time", "VARCHAR"}, {"temperature", "DOUBLE"}, {"humidity", "DOUBLE"},
		{"light", "DOUBLE"}, {"co2", "DOUBLE"}, {"humidity_ratio", "DOUBLE"}, {"occupancy", "DOUBLE"}, {"msg_id", "VARCHAR"}}
	alertColumns = []column{{"alert_id", "VARCHAR"}, {"kind", "VARCHAR"}, {"alert_time", "VARCHAR"}, {"user_id", "VARCHAR"},
		{"device_id", "VARCHAR"}, {"rule", "VARCHAR"}, {"severity", "VARCHAR"}, {"metric", "VARCHAR"}, {"observed_value", "DOUBLE"},
		{"threshold_value", "DOUBLE"}, {"window_start_ms", "BIGINT"}, {"window_end_ms", "BIGINT"}}
	goldColumns = []column{{"device_id", "VARCHAR"}, {"hour_start", "TIMESTAMP"}, {"readings", "BIGINT"}, {"temperature_min", "DOUBLE"},
		{"temperature_avg", "DOUBLE"}, {"temperature_max", "DOUBLE"}, {"temperature_p50", "DOUBLE"}, {"temperature_p95", "DOUBLE"},
		{"humidity_avg", "DOUBLE"}, {"light_avg", "DOUBLE"}, {"light_max", "DOUBLE"}, {"co2_avg", "DOUBLE"}, {"co2_max", "DOUBLE"},
		{"occupancy_ratio", "DOUBLE"}, {"expected_readings", "BIGINT"}, {"health_pct", "DOUBLE"}, {"alerts_warning", "BIGINT"},
		{"alerts_violation", "BIGINT"}}
	partitionColumns = []column{{"dt", "VARCHAR"}, {"hour", "VARCHAR"}}
)

// structLiteral is read_json's columns argument: {name: 'TYPE', ...}.
func structLiteral(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.name + ": '" + c.typ + "'"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// emptySelect is a relation with the columns and no row, for a table with no file yet.
func emptySelect(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "CAST(NULL AS " + c.typ + ") AS " + c.name
	}
	return "SELECT " + strings.Join(parts, ", ") + " WHERE false"
}

func (e *Engine) has(pattern string) bool {
	m, _ := filepath.Glob(filepath.Join(e.root, filepath.FromSlash(pattern)))
	return len(m) > 0
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// DefineViews creates bronze_readings, alerts and hourly_metrics over the lake as it is now (an
// empty view where the lake has no file yet).
func (e *Engine) DefineViews(ctx context.Context) error {
	glob := func(p string) string { return lit(filepath.Join(e.root, filepath.FromSlash(p))) }
	views := map[string]string{}
	jsonView := func(prefix string, cols []column) string {
		pattern := prefix + "/dt=*/hour=*/*"
		if !e.has(pattern) {
			return emptySelect(append(append([]column{}, cols...), partitionColumns...))
		}
		return fmt.Sprintf("SELECT * FROM read_json(%s, format = 'newline_delimited', ignore_errors = true, columns = %s, hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'})",
			glob(pattern), structLiteral(cols))
	}
	views["bronze_readings"] = jsonView(lake.Bronze, bronzeColumns)
	views["alerts"] = jsonView(lake.Alerts, alertColumns)
	gold := lake.Gold + "/hourly_metrics/dt=*/*.parquet"
	if e.has(gold) {
		views["hourly_metrics"] = fmt.Sprintf("SELECT * EXCLUDE (dt) FROM read_parquet(%s, hive_partitioning = true)", glob(gold))
	} else {
		views["hourly_metrics"] = emptySelect(goldColumns)
	}
	for _, name := range []string{"bronze_readings", "alerts", "hourly_metrics"} {
		if _, err := e.db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+name+" AS "+views[name]); err != nil {
			return fmt.Errorf("defining view %s: %w", name, err)
		}
	}
	return nil
}

// Query runs SQL against the views.
func (e *Engine) Query(ctx context.Context, query string) (*sql.Rows, error) {
	if err := e.DefineViews(ctx); err != nil {
		return nil, err
	}
	return e.db.QueryContext(ctx, query)
}
