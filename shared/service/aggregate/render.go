// Package aggregate builds the lake's silver and gold layers (DESIGN.md, "Hourly aggregates",
// "Silver and daily gold", "dq_hourly"). The SQL lives once, in sql/*.sql (embedded), and is
// rendered for two engines: Athena on AWS and DuckDB on one machine. Only the dialect functions
// differ (how bronze, alerts, silver and devices are read, regexp, timestamp parsing,
// percentiles); every value of a query goes in as a positional parameter.
package aggregate

import (
	"bytes"
	"embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// PipelineVersion is written into every silver row (pipeline_version): the version of the SQL
// that cleaned it. Change it when silver.sql or lines.sql changes what a row holds.
// (2: the declared metrics, in metrics. 3: a row per accepted element of a batched message.)
const PipelineVersion = "iotwatch-silver-3"

// Param is one positional parameter of a rendered statement.
type Param struct {
	Name  string
	Value any // string or int64
}

// Literal renders the parameter as an Athena ExecutionParameters value: a quoted string literal
// (quotes doubled) or a number.
func (p Param) Literal() string {
	switch v := p.Value.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case int64:
		return strconv.FormatInt(v, 10)
	}
	panic(fmt.Sprintf("aggregate: parameter %s has unsupported type %T", p.Name, p.Value))
}

// Statement is a rendered SQL statement and its parameters, in order.
type Statement struct {
	Name   string
	SQL    string
	Params []Param
}

// Hour holds the values of one hour's statements.
type Hour struct {
	Start            time.Time // the hour, UTC, truncated
	ExpectedReadings int64     // 3600 / the nominal interval
	// Catalog declares the metrics beyond the built-ins that silver checks and keeps (in its
	// metrics column) and hourly_metric_values aggregates; nil: the built-ins only.
	Catalog *reading.Catalog
}

// Day holds the values of one UTC day's statements (daily_metrics, daily_metric_values).
type Day struct {
	Start            time.Time // midnight UTC
	ExpectedReadings int64     // per hour, as for Hour: the day expects 24 times as many
	Catalog          *reading.Catalog
}

// period is an hour or a day.
type period struct {
	start    time.Time
	span     time.Duration
	expected int64 // per hour
	catalog  *reading.Catalog
}

func (h Hour) period() period {
	return period{h.Start.UTC().Truncate(time.Hour), time.Hour, h.ExpectedReadings, h.Catalog}
}

func (d Day) period() period {
	s := d.Start.UTC()
	return period{time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC), 24 * time.Hour, d.ExpectedReadings, d.Catalog}
}

// params returns the named values statements may use.
func (p period) params() map[string]any {
	const ts = "2006-01-02 15:04:05"
	end := p.start.Add(p.span)
	return map[string]any{
		"dt":                p.start.Format("2006-01-02"),
		"hour":              p.start.Format("15"),
		"start_ms":          p.start.UnixMilli(),
		"end_ms":            end.UnixMilli(),
		"start_ts":          p.start.Format(ts),
		"end_ts":            end.Format(ts),
		"late_after_ms":     end.Add(time.Hour).UnixMilli(),
		"expected_readings": p.expected,
	}
}

// literal is the period's start as a typed literal, formatted from a time.Time (never from input):
// for Athena's DELETE, which takes no parameters, and for the constant columns of a result.
func timestampLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05") + "'"
}

// dialect is what differs between engines.
type dialect struct {
	name        string
	re          func(expr, pattern string) string
	ts          func(expr string) string
	epochMs     func(expr string) string
	pct         func(expr, q string) string
	tsFromMs    func(expr string) string
	integers    func(n int) string
	joinSorted  func(expr string) string        // the distinct values, sorted, joined by commas
	joinOrdered func(expr, order string) string // the values in order, joined by commas
	objectTime  func(expr string) string        // a bronze object's time, from its name
	// metricMap is a map(varchar, double) of the names (SQL string literals) to the values
	// (expressions) that are not NULL; NULL when every value is (and when there are none)
	metricMap func(names, values []string) string
	// metricValue is a map's value of a key, NULL when the map lacks the key
	metricValue func(m, key string) string
	jsonPath    func(name string) string // a string literal of the JSON path of a top-level member
	now         string
	prefix      string // of the files of the bronze, alerts, silver and devices relations
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// The object names bronze writers give: Firehose's (stream-version-YYYY-MM-DD-HH-MM-SS-uuid, then
// any extension) and the local pipeline's (iotwatch-bronze-<Unix ns>-<sequence>.json.gz).
const (
	firehoseObjectTime = `-([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^/]*$`
	localObjectTime    = `iotwatch-bronze-([0-9]{1,19})-[0-9]+\.json\.gz$`
)

// Athena is Trino's SQL as Athena engine 3 speaks it.
var athena = dialect{
	name:    "athena",
	re:      func(expr, p string) string { return "regexp_like(" + expr + ", " + sqlString(p) + ")" },
	ts:      func(expr string) string { return "try(from_iso8601_timestamp(" + expr + "))" },
	epochMs: func(expr string) string { return "CAST(floor(to_unixtime(" + expr + ") * 1000) AS BIGINT)" },
	pct:     func(expr, q string) string { return "approx_percentile(" + expr + ", " + q + ")" },
	// from_unixtime gives a timestamp with time zone in the session zone, UTC on Athena
	tsFromMs: func(expr string) string {
		return "CAST(from_unixtime(CAST(" + expr + " AS DOUBLE) / 1000) AS TIMESTAMP)"
	},
	integers: func(n int) string { return fmt.Sprintf("UNNEST(sequence(1, %d)) AS t(n)", n) },
	joinSorted: func(expr string) string {
		return "array_join(array_sort(array_distinct(array_agg(" + expr + "))), ',')"
	},
	joinOrdered: func(expr, order string) string {
		return "array_join(array_agg(" + expr + " ORDER BY " + order + "), ',')"
	},
	objectTime: func(expr string) string {
		return "coalesce(try(date_parse(regexp_extract(" + expr + ", " + sqlString(firehoseObjectTime) + ", 1), '%Y-%m-%d-%H-%i-%s')), " +
			"CAST(from_unixtime(TRY_CAST(regexp_extract(" + expr + ", " + sqlString(localObjectTime) + ", 1) AS BIGINT) / 1e9) AS TIMESTAMP))"
	},
	metricMap: func(names, values []string) string {
		return "CAST(map_filter(MAP(ARRAY[" + strings.Join(names, ", ") + "], ARRAY[" + strings.Join(values, ", ") + "]), (k, v) -> v IS NOT NULL) AS MAP(VARCHAR, DOUBLE))"
	},
	// m[key] fails on a missing key in Trino; element_at gives NULL
	metricValue: func(m, key string) string { return "element_at(" + m + ", " + key + ")" },
	jsonPath:    func(name string) string { return sqlString(`$["` + name + `"]`) },
	now:         "CAST(current_timestamp AS TIMESTAMP)",
	prefix:      "athena_",
}

// DuckDB is DuckDB 1.5's SQL.
var duckdb = dialect{
	name: "duckdb",
	re: func(expr, p string) string {
		return "coalesce(regexp_matches(" + expr + ", " + sqlString(p) + "), false)"
	},
	ts:          func(expr string) string { return "TRY_CAST(" + expr + " AS TIMESTAMPTZ)" },
	epochMs:     func(expr string) string { return "epoch_ms(" + expr + ")" },
	pct:         func(expr, q string) string { return "quantile_cont(" + expr + ", " + q + ")" },
	tsFromMs:    func(expr string) string { return "make_timestamp(" + expr + " * 1000)" },
	integers:    func(n int) string { return fmt.Sprintf("range(1, %d) AS t(n)", n+1) },
	joinSorted:  func(expr string) string { return "string_agg(DISTINCT " + expr + ", ',' ORDER BY " + expr + ")" },
	joinOrdered: func(expr, order string) string { return "string_agg(" + expr + ", ',' ORDER BY " + order + ")" },
	objectTime: func(expr string) string {
		return "coalesce(try_strptime(nullif(regexp_extract(" + expr + ", " + sqlString(firehoseObjectTime) + ", 1), ''), '%Y-%m-%d-%H-%M-%S'), " +
			"make_timestamp(TRY_CAST(nullif(regexp_extract(" + expr + ", " + sqlString(localObjectTime) + ", 1), '') AS BIGINT) // 1000))"
	},
	metricMap: func(names, values []string) string {
		entries := make([]string, len(names))
		for i := range names {
			entries[i] = "{'key': " + names[i] + ", 'value': " + values[i] + "}"
		}
		return "CAST(map_from_entries(list_filter([" + strings.Join(entries, ", ") + "], lambda e: e.value IS NOT NULL)) AS MAP(VARCHAR, DOUBLE))"
	},
	// element_at of a map is a list in DuckDB; m[key] is the value, NULL when missing
	metricValue: func(m, key string) string { return m + "[" + key + "]" },
	jsonPath:    func(name string) string { return sqlString(`$."` + name + `"`) },
	now:         "CAST(current_timestamp AS TIMESTAMP)",
	prefix:      "duckdb_",
}

// renderData is what the templates see besides the functions.
type renderData struct {
	Database       string // Athena: the Glue database
	BronzeFiles    string // DuckDB: a list literal of the hour's bronze files
	AlertFiles     string // DuckDB: the same for alerts ("" when there are none)
	RejectionFiles string // DuckDB: the same for the rejections index ("" when there are none)
	SilverFiles    string // DuckDB: the same for the period's silver files ("" when there are none)
	Output         string // DuckDB: the Parquet file to write, as a literal
	RowGroupSize   int    // DuckDB: the Parquet row groups' rows (0: DuckDB's default)
	CheckedTable   string // DuckDB: the temporary table of the hour's checked lines ("": read bronze)
	Table, Where   string // athena_replace.sql: the table and the DELETE's condition
	body           string // the statement file a COPY or an INSERT wraps

	Day         bool   // a day's statement (the alerts of the day)
	PeriodMs    int64  // the period's length in ms
	PeriodHours int64  // and in hours
	StartColumn string // hour_start or day_start
}

type usualRange struct{ Metric, Low, High string }

// declaredMetric is a declared metric as the templates see it. Its name is a SQL string literal
// (and a JSON path) only, never an identifier: the lines' columns of the metric are named by its
// place in the catalog (declared_1, declared_1_j, …), as a name such as "reason" or "copies" is a
// valid metric name and a column of the queries too.
type declaredMetric struct {
	Name     string // the SQL string literal of the name
	Path     string // the SQL string literal of its JSON path
	Col      string // the column of its value (DOUBLE); Col + "_j" holds its JSON text
	Min, Max string // the valid range, as DOUBLE literals
	Pattern  string // the pattern (Java and RE2) of a top-level member of that name, for Athena's repeated names
	Slot     int    // DuckDB: its place in the list of the paths bronze extracts, after the 9 fields of the contract
}

// metricName is what a declared metric's name matches (reading's catalog checks it; the SQL
// relies on it, so rendering checks it again).
var metricName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// doubleLiteral is v as a DOUBLE literal of both engines (an exponent makes it one, never a
// DECIMAL), exact: the shortest text that reads back as v.
func doubleLiteral(v float64) string {
	return strings.ToUpper(strconv.FormatFloat(v, 'e', -1, 64))
}

// memberPattern is the pattern (Java and RE2) of a member of an object named name, as a SQL
// string literal.
func memberPattern(name string) string { return sqlString(`[{,]\s*"` + name + `"\s*:`) }

func declaredMetrics(d dialect, c *reading.Catalog) ([]declaredMetric, error) {
	ds := c.Declared()
	out := make([]declaredMetric, len(ds))
	for i, m := range ds {
		if !metricName.MatchString(m.Name) {
			return nil, fmt.Errorf("declared metric %q: the name does not match %s", m.Name, metricName)
		}
		out[i] = declaredMetric{Name: sqlString(m.Name), Path: d.jsonPath(m.Name), Col: fmt.Sprintf("declared_%d", i+1),
			Min: doubleLiteral(m.Min), Max: doubleLiteral(m.Max), Pattern: memberPattern(m.Name), Slot: 10 + i}
	}
	return out, nil
}

// render executes the named statement file in a dialect, collecting parameters as it goes.
func render(d dialect, file string, p period, data renderData) (Statement, error) {
	values := p.params()
	data.PeriodMs, data.PeriodHours = p.span.Milliseconds(), int64(p.span/time.Hour)
	data.Day = p.span > time.Hour
	if data.StartColumn == "" {
		data.StartColumn = "hour_start"
	}
	declared, err := declaredMetrics(d, p.catalog)
	if err != nil {
		return Statement{}, err
	}
	var params []Param
	var tmpl *template.Template
	include := func(name string) (string, error) {
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
			return "", err
		}
		return strings.TrimRight(b.String(), "\n"), nil
	}
	funcs := template.FuncMap{
		"re":           d.re,
		"ts":           d.ts,
		"epoch_ms":     d.epochMs,
		"pct":          d.pct,
		"ts_from_ms":   d.tsFromMs,
		"integers":     d.integers,
		"join_sorted":  d.joinSorted,
		"join_ordered": d.joinOrdered,
		"object_time":  d.objectTime,
		"now":          func() string { return d.now },
		"hour_start":   func() string { return timestampLiteral(p.start) },
		"max_bytes":    func() int { return reading.MaxSize },
		"max_double":   func() string { return "1.7976931348623157e308" },
		"max_msg_id":   func() int { return reading.MaxMsgIDLen },
		"min_event_ms": func() int64 { return reading.MinEventTime.UnixMilli() },
		"max_event_ms": func() int64 { return reading.MaxEventTime.UnixMilli() },
		"pipeline_version": func() string {
			return sqlString(PipelineVersion)
		},
		"usual_ranges": func() []usualRange {
			out := make([]usualRange, len(reading.UsualRanges))
			for i, u := range reading.UsualRanges {
				out[i] = usualRange{u.Metric.String(), strconv.FormatFloat(u.Low, 'f', -1, 64), strconv.FormatFloat(u.High, 'f', -1, 64)}
			}
			return out
		},
		"declared":  func() []declaredMetric { return declared },
		"max_batch": func() int { return reading.MaxBatch },
		// the names whose repeats Athena's bronze looks for in a line's text: the contract's
		// fields, readings, the declared metrics
		"members": func() []declaredMetric {
			var out []declaredMetric
			for _, n := range []string{"device_id", "event_time", "msg_id", "temperature", "humidity", "light", "co2", "humidity_ratio", "occupancy", "readings"} {
				out = append(out, declaredMetric{Name: sqlString(n), Path: d.jsonPath(n), Pattern: memberPattern(n)})
			}
			return append(out, declared...)
		},
		// the map of the declared metrics' values in the columns of a relation (prefix: "r."):
		// NULL when the reading carries none of them
		"metric_map": func(prefix string) string {
			if len(declared) == 0 {
				return "CAST(NULL AS MAP(VARCHAR, DOUBLE))"
			}
			names, values, nulls := make([]string, len(declared)), make([]string, len(declared)), make([]string, len(declared))
			for i, m := range declared {
				names[i], values[i] = m.Name, prefix+m.Col
				nulls[i] = prefix + m.Col + " IS NULL"
			}
			return "CASE WHEN " + strings.Join(nulls, " AND ") + " THEN NULL ELSE " + d.metricMap(names, values) + " END"
		},
		"metric_value": d.metricValue,
		"empty_silver": func() string { return lake.EmptySelect(lake.SilverReadingsTable.Columns) }, // DuckDB's only
		"param": func(name string) (string, error) {
			v, ok := values[name]
			if !ok {
				return "", fmt.Errorf("no parameter %q", name)
			}
			params = append(params, Param{Name: name, Value: v})
			return "?", nil
		},
		"bronze":   func() (string, error) { return include(d.prefix + "bronze.sql") },
		"elements": func() (string, error) { return include(d.prefix + "elements.sql") },
		"alerts":   func() (string, error) { return include(d.prefix + "alerts.sql") },
		"silver":   func() (string, error) { return include(d.prefix + "silver.sql") },
		"devices":  func() (string, error) { return include(d.prefix + "devices.sql") },
		"body":     func() (string, error) { return include(data.body) },
	}
	tmpl, err = template.New("").Funcs(funcs).Option("missingkey=error").ParseFS(sqlFiles, "sql/*.sql")
	if err != nil {
		return Statement{}, fmt.Errorf("parsing SQL templates: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, file, data); err != nil {
		return Statement{}, fmt.Errorf("rendering %s for %s: %w", file, d.name, err)
	}
	return Statement{Name: strings.TrimSuffix(file, ".sql"), SQL: strings.TrimSpace(b.String()) + "\n", Params: params}, nil
}

// A layer is one statement file and the table it writes.
type layer struct {
	name         string // SilverLayer, …: the statements' names
	file         string
	table        lake.Table
	startColumn  string // the period's start column: hour_start ("") or day_start
	rowGroupSize int    // DuckDB's Parquet row groups (0: DuckDB's default)
}

// The tables the local engine writes, by their statement.
const (
	SilverLayer   = "silver"
	HourlyLayer   = "hourly"
	DQLayer       = "dq_hourly"
	LocationLayer = "location_hourly"
	DailyLayer    = "daily"
	// the declared metrics' gold, per hour and per day
	HourlyValuesLayer = "hourly_metric_values"
	DailyValuesLayer  = "daily_metric_values"
)

// The hour's layers, in the order they are written: silver first, the others read it; then the day's.
var (
	// silver is sorted by device and time: row groups of 16,384 rows let a query of a few devices
	// skip the others' by their device_id statistics (DuckDB's default is 122,880)
	silverLayer   = layer{name: SilverLayer, file: "silver.sql", table: lake.SilverReadingsTable, rowGroupSize: 16384}
	hourlyLayer   = layer{name: HourlyLayer, file: "hourly.sql", table: lake.HourlyMetricsTable}
	dqLayer       = layer{name: DQLayer, file: "dq_hourly.sql", table: lake.DQHourlyTable}
	locationLayer = layer{name: LocationLayer, file: "location_hourly.sql", table: lake.LocationHourlyTable}
	dailyLayer    = layer{name: DailyLayer, file: "hourly.sql", table: lake.DailyMetricsTable, startColumn: "day_start"}
	hourlyValues  = layer{name: HourlyValuesLayer, file: "metric_values.sql", table: lake.HourlyMetricValuesTable}
	dailyValues   = layer{name: DailyValuesLayer, file: "metric_values.sql", table: lake.DailyMetricValuesTable, startColumn: "day_start"}
	layers        = []layer{silverLayer, hourlyLayer, dqLayer, locationLayer, hourlyValues, dailyLayer, dailyValues}
)

// athenaReplace renders the DELETE and the INSERT that replace a period of an Iceberg table.
func athenaReplace(database string, l layer, p period, where string) ([]Statement, error) {
	data := renderData{Database: database, Table: l.table.Name, Where: where, body: l.file, StartColumn: l.startColumn}
	st, err := render(athena, "athena_replace.sql", p, data)
	if err != nil {
		return nil, err
	}
	del, ins, ok := strings.Cut(st.SQL, "\n-- then\n")
	if !ok {
		return nil, fmt.Errorf("athena_replace.sql: no -- then line")
	}
	return []Statement{
		{Name: l.name + " delete", SQL: del + "\n"}, // the DELETE takes no parameters: every one is the INSERT's
		{Name: l.name + " insert", SQL: ins, Params: st.Params},
	}, nil
}

// AthenaStatements renders the statements that replace one hour in the Athena (Iceberg) tables:
// silver_readings from bronze, then hourly_metrics, dq_hourly, location_hourly and
// hourly_metric_values from silver, each by a DELETE of the hour's rows and an INSERT of them anew.
func AthenaStatements(database string, h Hour) ([]Statement, error) {
	p := h.period()
	hourIs := "hour_start = " + timestampLiteral(p.start)
	var out []Statement
	for _, s := range []struct {
		l     layer
		where string
	}{
		{silverLayer, "event_time >= " + timestampLiteral(p.start) + " AND event_time < " + timestampLiteral(p.start.Add(time.Hour))},
		{hourlyLayer, hourIs},
		{dqLayer, hourIs},
		{locationLayer, hourIs},
		{hourlyValues, hourIs},
	} {
		sts, err := athenaReplace(database, s.l, p, s.where)
		if err != nil {
			return nil, err
		}
		out = append(out, sts...)
	}
	return out, nil
}

// AthenaDayStatements renders the statements that replace one day of daily_metrics and of
// daily_metric_values, from silver.
func AthenaDayStatements(database string, d Day) ([]Statement, error) {
	p := d.period()
	var out []Statement
	for _, l := range []layer{dailyLayer, dailyValues} {
		sts, err := athenaReplace(database, l, p, "day_start = "+timestampLiteral(p.start))
		if err != nil {
			return nil, err
		}
		out = append(out, sts...)
	}
	return out, nil
}

// DuckDBFiles are the files a DuckDB statement reads: bronze, alerts and the rejections index of
// the hour, and silver of the period. Checked, when set, names the temporary table that
// DuckDBCheckedStatement filled with the hour's checked lines: silver and dq_hourly read it
// instead of bronze.
type DuckDBFiles struct {
	Bronze, Alerts, Rejections, Silver []string
	Checked                            string
}

func (f DuckDBFiles) data() renderData {
	return renderData{BronzeFiles: listLiteralOrEmpty(f.Bronze), AlertFiles: listLiteralOrEmpty(f.Alerts),
		RejectionFiles: listLiteralOrEmpty(f.Rejections), SilverFiles: listLiteralOrEmpty(f.Silver), CheckedTable: f.Checked}
}

// DuckDBCheckedStatement renders the statement that reads and checks the hour's bronze lines once,
// into the temporary table files.Checked.
func DuckDBCheckedStatement(files DuckDBFiles, h Hour) (Statement, error) {
	if files.Checked == "" || strings.ContainsFunc(files.Checked, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
		return Statement{}, fmt.Errorf("the checked lines' table %q is not a plain name", files.Checked)
	}
	data := files.data()
	return render(duckdb, "duckdb_checked.sql", h.period(), data)
}

func duckLayer(name string) (layer, error) {
	for _, l := range layers {
		if l.name == name {
			return l, nil
		}
	}
	return layer{}, fmt.Errorf("no layer %q", name)
}

// DuckDBStatement renders the COPY that writes one hour's rows of a layer (SilverLayer,
// HourlyLayer, DQLayer, LocationLayer, HourlyValuesLayer) to a Parquet file. Files are given as paths; they become SQL
// string literals (they name the engine's input and output, they are not values of the query).
func DuckDBStatement(layerName string, files DuckDBFiles, output string, h Hour) (Statement, error) {
	return duckCopy(layerName, files, output, h.period())
}

// DuckDBDayStatement renders the COPY that writes one day of a day's layer (DailyLayer,
// DailyValuesLayer) from its silver files.
func DuckDBDayStatement(layerName string, files DuckDBFiles, output string, d Day) (Statement, error) {
	return duckCopy(layerName, files, output, d.period())
}

func duckCopy(layerName string, files DuckDBFiles, output string, p period) (Statement, error) {
	l, err := duckLayer(layerName)
	if err != nil {
		return Statement{}, err
	}
	data := files.data()
	data.Output = sqlString(output)
	data.body, data.StartColumn, data.RowGroupSize = l.file, l.startColumn, l.rowGroupSize
	st, err := render(duckdb, "duckdb_copy.sql", p, data)
	st.Name = layerName
	return st, err
}

// DuckDBSelect renders a layer's SELECT alone (for benchmarks and tests).
func DuckDBSelect(layerName string, files DuckDBFiles, h Hour) (Statement, error) {
	l, err := duckLayer(layerName)
	if err != nil {
		return Statement{}, err
	}
	data := files.data()
	data.StartColumn = l.startColumn
	return render(duckdb, l.file, h.period(), data)
}

func listLiteral(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sqlString(p)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func listLiteralOrEmpty(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	return listLiteral(paths)
}
