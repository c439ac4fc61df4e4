package lake

import (
	"strings"
	"time"
)

// ColumnType is a column's type, spelled per engine by Glue and DuckDB.
type ColumnType uint8

// The types the lake's tables use.
const (
	String ColumnType = iota
	Double
	BigInt
	Timestamp
	// DoubleMap is a map from names to numbers (silver_readings.metrics: the declared metrics a
	// reading carries). Athena reads it with element_at(m, 'name'), DuckDB with m['name'] (and
	// `iotwatch query` defines element_at as Athena's).
	DoubleMap
)

// Glue is the type's name in the Glue catalog (Hive DDL), as Athena reads it.
func (t ColumnType) Glue() string {
	return [...]string{"string", "double", "bigint", "timestamp", "map<string,double>"}[t]
}

// DuckDB is the type's name in DuckDB.
func (t ColumnType) DuckDB() string {
	return [...]string{"VARCHAR", "DOUBLE", "BIGINT", "TIMESTAMP", "MAP(VARCHAR, DOUBLE)"}[t]
}

// Column is one column of a lake table.
type Column struct {
	Name string
	Type ColumnType
}

// Table is one table of the lake: its columns, and the hour partition columns when it is laid
// out under Prefix/dt=…/hour=…/. The Glue catalog (infra/) and the views of the local query
// engine (shared/local/duckdbengine) are both derived from these definitions.
type Table struct {
	Name        string
	Prefix      string
	Columns     []Column
	Partitioned bool // dt and hour (PartitionColumns)
}

// EmptySelect is a DuckDB relation with the columns and no row (a table with no file yet).
func EmptySelect(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "CAST(NULL AS " + c.Type.DuckDB() + ") AS " + c.Name
	}
	return "SELECT " + strings.Join(parts, ", ") + " WHERE false"
}

// HourFile is where one hour's rows of a table written per hour lie in a local lake:
// PREFIX/dt=YYYY-MM-DD/hour=HH.parquet, slash-separated, for the UTC hour of t.
func HourFile(prefix string, t time.Time) string {
	t = t.UTC()
	return prefix + "/dt=" + t.Format("2006-01-02") + "/hour=" + t.Format("15") + ".parquet"
}

// DayFile is where one UTC day's rows of daily_metrics lie in a local lake:
// PREFIX/dt=YYYY-MM-DD/day.parquet.
func DayFile(prefix string, t time.Time) string {
	return prefix + "/dt=" + t.UTC().Format("2006-01-02") + "/day.parquet"
}

// PartitionColumns are the hour partition's columns of a partitioned table.
var PartitionColumns = []Column{{"dt", String}, {"hour", String}}

// The lake's tables.
var (
	// BronzeReadingsTable is the raw readings as columns (DESIGN.md, "Reading"); a line that is not
	// a reading reads as nulls.
	BronzeReadingsTable = Table{Name: "bronze_readings", Prefix: Bronze, Partitioned: true, Columns: []Column{
		{"device_id", String}, {"event_time", String}, {"temperature", Double}, {"humidity", Double},
		{"light", Double}, {"co2", Double}, {"humidity_ratio", Double}, {"occupancy", Double}, {"msg_id", String}}}

	// AlertsTable is the alerts as published (DESIGN.md, "Alert").
	AlertsTable = Table{Name: "alerts", Prefix: Alerts, Partitioned: true, Columns: []Column{
		{"alert_id", String}, {"kind", String}, {"alert_time", String}, {"user_id", String},
		{"device_id", String}, {"rule", String}, {"severity", String}, {"metric", String}, {"observed_value", Double},
		{"threshold_value", Double}, {"window_start_ms", BigInt}, {"window_end_ms", BigInt}, {"config_version", BigInt}, {"suppressed", String}, {"via", String}}}

	// RejectionsTable indexes the bronze lines the evaluation rejected, by the hour bronze files
	// them under: the aggregation leaves them out (a reading for another device's topic, one too
	// large, one from the future: what the lines alone cannot show).
	RejectionsTable = Table{Name: "rejections", Prefix: Rejections, Partitioned: true, Columns: []Column{
		{"line_md5", String}, {"reason", String}, {"source", String}}}

	// HourlyMetricsTable is gold (DESIGN.md, "Hourly aggregates"), in the order the aggregation writes it.
	HourlyMetricsTable = Table{Name: "hourly_metrics", Prefix: Gold + "/hourly_metrics", Columns: []Column{
		{"device_id", String}, {"hour_start", Timestamp}, {"readings", BigInt}, {"temperature_min", Double},
		{"temperature_avg", Double}, {"temperature_max", Double}, {"temperature_p50", Double}, {"temperature_p95", Double},
		{"humidity_avg", Double}, {"light_avg", Double}, {"light_max", Double}, {"co2_avg", Double}, {"co2_max", Double},
		{"occupancy_ratio", Double}, {"expected_readings", BigInt}, {"health_pct", Double}, {"alerts_warning", BigInt},
		{"alerts_violation", BigInt}}}
)

// The second edition's layers (DESIGN.md, "Silver and daily gold", "dq_hourly").
const Silver = "silver"

var (
	// SilverReadingsTable is the cleaned readings: one row per reading identity the decoder
	// accepts, typed, with stateless flags and lineage. Iceberg on AWS (partitioned by day of
	// event_time), Parquet per hour locally.
	SilverReadingsTable = Table{Name: "silver_readings", Prefix: Silver + "/readings", Columns: []Column{
		{"device_id", String}, {"event_time", Timestamp}, {"msg_id", String},
		{"temperature", Double}, {"humidity", Double}, {"light", Double}, {"co2", Double}, {"humidity_ratio", Double}, {"occupancy", Double},
		{"out_of_range", String}, {"alert_rules", String}, {"copies", BigInt},
		{"source_object", String}, {"ingested_at", Timestamp}, {"processed_at", Timestamp}, {"pipeline_version", String},
		// last: the column added to deployed tables (ALTER TABLE … ADD COLUMNS appends), so that
		// an INSERT of the columns in this order fits old and new tables alike
		{"metrics", DoubleMap}}}

	// DailyMetricsTable is the daily gold: hourly_metrics' columns per device and UTC day, computed
	// from the day's silver rows.
	DailyMetricsTable = Table{Name: "daily_metrics", Prefix: Gold + "/daily_metrics", Columns: append([]Column{
		{"device_id", String}, {"day_start", Timestamp}}, HourlyMetricsTable.Columns[2:]...)}

	// HourlyMetricValuesTable is the hourly gold of the declared metrics (DESIGN.md, "Metrics
	// catalog"): one row per device, hour and declared metric with readings, computed from silver's
	// metrics as hourly_metrics computes temperature's.
	HourlyMetricValuesTable = Table{Name: "hourly_metric_values", Prefix: Gold + "/hourly_metric_values", Columns: []Column{
		{"device_id", String}, {"hour_start", Timestamp}, {"metric", String}, {"readings", BigInt},
		{"value_min", Double}, {"value_avg", Double}, {"value_max", Double}, {"value_p95", Double}}}

	// DailyMetricValuesTable is the same per device, UTC day and declared metric, from the day's
	// silver rows (as daily_metrics).
	DailyMetricValuesTable = Table{Name: "daily_metric_values", Prefix: Gold + "/daily_metric_values", Columns: append([]Column{
		{"device_id", String}, {"day_start", Timestamp}}, HourlyMetricValuesTable.Columns[2:]...)}

	// LocationHourlyTable is the hourly rollup per device location.
	LocationHourlyTable = Table{Name: "location_hourly", Prefix: Gold + "/location_hourly", Columns: []Column{
		{"location", String}, {"hour_start", Timestamp}, {"devices_known", BigInt}, {"devices_reporting", BigInt},
		{"readings", BigInt}, {"temperature_avg", Double}, {"co2_avg", Double}, {"expected_readings", BigInt}, {"health_pct", Double}}}

	// DQHourlyTable is the data quality of each hour, per device.
	DQHourlyTable = Table{Name: "dq_hourly", Prefix: Gold + "/dq_hourly", Columns: []Column{
		{"hour_start", Timestamp}, {"device_id", String}, {"bronze_records", BigInt}, {"valid_records", BigInt},
		{"valid_readings", BigInt}, {"duplicates", BigInt}, {"rejected", BigInt}, {"rejected_by_reason", String},
		{"temperature_null_pct", Double}, {"humidity_null_pct", Double}, {"light_null_pct", Double}, {"co2_null_pct", Double},
		{"humidity_ratio_null_pct", Double}, {"occupancy_null_pct", Double}, {"late_arrivals", BigInt},
		{"expected_readings", BigInt}, {"pass_rate_pct", Double}, {"fleet_pass_rate_pct", Double}}}

	// DevicesTable is device metadata as the lake holds it for the location rollup and queries: on
	// AWS a JSON lines snapshot under devices/ that `iotwatch devices put` replaces; locally the
	// devices file given (run, aggregate, query --devices).
	DevicesTable = Table{Name: "devices", Prefix: "devices", Columns: []Column{
		{"device_id", String}, {"name", String}, {"location", String}}}
)

// DevicesObject is the key of the device metadata snapshot (DevicesTable) on AWS, replaced whole.
const DevicesObject = "devices/devices.json.gz"

// DevicesLine is one line of the snapshot.
type DevicesLine struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name,omitempty"`
	Location string `json:"location,omitempty"`
}
