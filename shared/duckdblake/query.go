package duckdblake

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/iotwatch/iotwatch/shared/lake"
)

// The views `iotwatch query` offers, named and shaped as the Athena tables are.
const (
	bronzeColumns = `{device_id: 'VARCHAR', event_time: 'VARCHAR', temperature: 'DOUBLE', humidity: 'DOUBLE', light: 'DOUBLE',
  co2: 'DOUBLE', humidity_ratio: 'DOUBLE', occupancy: 'DOUBLE', msg_id: 'VARCHAR'}`
	alertColumns = `{alert_id: 'VARCHAR', kind: 'VARCHAR', alert_time: 'VARCHAR', user_id: 'VARCHAR', device_id: 'VARCHAR',
  rule: 'VARCHAR', severity: 'VARCHAR', metric: 'VARCHAR', observed_value: 'DOUBLE', threshold_value: 'DOUBLE',
  window_start_ms: 'BIGINT', window_end_ms: 'BIGINT'}`
)

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
	jsonView := func(prefix, columns string) string {
		pattern := prefix + "/dt=*/hour=*/*"
		if !e.has(pattern) {
			return fmt.Sprintf("SELECT *, CAST(NULL AS VARCHAR) AS dt, CAST(NULL AS VARCHAR) AS hour FROM read_json('[]', columns = %s) WHERE false", columns)
		}
		return fmt.Sprintf("SELECT * FROM read_json(%s, format = 'newline_delimited', ignore_errors = true, columns = %s, hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'})",
			glob(pattern), columns)
	}
	views["bronze_readings"] = jsonView(lake.Bronze, bronzeColumns)
	views["alerts"] = jsonView(lake.Alerts, alertColumns)
	gold := lake.Gold + "/hourly_metrics/dt=*/*.parquet"
	if e.has(gold) {
		views["hourly_metrics"] = fmt.Sprintf("SELECT * EXCLUDE (dt) FROM read_parquet(%s, hive_partitioning = true)", glob(gold))
	} else {
		views["hourly_metrics"] = `SELECT CAST(NULL AS VARCHAR) AS device_id, CAST(NULL AS TIMESTAMP) AS hour_start, CAST(NULL AS BIGINT) AS readings,
  CAST(NULL AS DOUBLE) AS temperature_min, CAST(NULL AS DOUBLE) AS temperature_avg, CAST(NULL AS DOUBLE) AS temperature_max,
  CAST(NULL AS DOUBLE) AS temperature_p50, CAST(NULL AS DOUBLE) AS temperature_p95, CAST(NULL AS DOUBLE) AS humidity_avg,
  CAST(NULL AS DOUBLE) AS light_avg, CAST(NULL AS DOUBLE) AS light_max, CAST(NULL AS DOUBLE) AS co2_avg, CAST(NULL AS DOUBLE) AS co2_max,
  CAST(NULL AS DOUBLE) AS occupancy_ratio, CAST(NULL AS BIGINT) AS expected_readings, CAST(NULL AS DOUBLE) AS health_pct,
  CAST(NULL AS BIGINT) AS alerts_warning, CAST(NULL AS BIGINT) AS alerts_violation WHERE false`
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

