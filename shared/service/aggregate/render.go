// Package aggregate computes the hourly aggregates of DESIGN.md ("Hourly aggregates"). The SQL lives
// once, in sql/*.sql (embedded), and is rendered for two engines: Athena on AWS and DuckDB on one
// machine. Only the dialect functions differ (how bronze and alerts are read, regexp, timestamp
// parsing, percentiles); every value goes in as a positional parameter.
package aggregate

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

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
}

// params returns the named values statements may use.
func (h Hour) params() map[string]any {
	s := h.Start.UTC().Truncate(time.Hour)
	return map[string]any{
		"dt":                s.Format("2006-01-02"),
		"hour":              s.Format("15"),
		"start_ms":          s.UnixMilli(),
		"end_ms":            s.Add(time.Hour).UnixMilli(),
		"expected_readings": h.ExpectedReadings,
		"min_event_ms":      reading.MinEventTime.UnixMilli(),
		"max_event_ms":      reading.MaxEventTime.UnixMilli(),
	}
}

// dialect is what differs between engines.
type dialect struct {
	name     string
	re       func(expr, pattern string) string
	ts       func(expr string) string
	epochMs  func(expr string) string
	pct      func(expr, q string) string
	tsFromMs func(expr string) string
	integers func(n int) string
	bronze   string // file name of the bronze relation
	alerts   string // file name of the alerts relation
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
	bronze:   "athena_bronze.sql",
	alerts:   "athena_alerts.sql",
}

// DuckDB is DuckDB 1.5's SQL.
var duckdb = dialect{
	name: "duckdb",
	re: func(expr, p string) string {
		return "coalesce(regexp_matches(" + expr + ", " + sqlString(p) + "), false)"
	},
	ts:       func(expr string) string { return "TRY_CAST(" + expr + " AS TIMESTAMPTZ)" },
	epochMs:  func(expr string) string { return "epoch_ms(" + expr + ")" },
	pct:      func(expr, q string) string { return "quantile_cont(" + expr + ", " + q + ")" },
	tsFromMs: func(expr string) string { return "make_timestamp(" + expr + " * 1000)" },
	integers: func(n int) string { return fmt.Sprintf("range(1, %d) AS t(n)", n+1) },
	bronze:   "duckdb_bronze.sql",
	alerts:   "duckdb_alerts.sql",
}

// renderData is what the templates see besides the functions.
type renderData struct {
	Database       string // Athena: the Glue database
	BronzeFiles    string // DuckDB: a list literal of the hour's bronze files
	AlertFiles     string // DuckDB: the same for alerts ("" when there are none)
	RejectionFiles string // DuckDB: the same for the rejections index ("" when there are none)
	Output         string // DuckDB: the Parquet file to write, as a literal
}

// render executes the named statement file in a dialect, collecting parameters as it goes.
func render(d dialect, file string, h Hour, data renderData) (Statement, error) {
	values := h.params()
	var params []Param
	var tmpl *template.Template
	funcs := template.FuncMap{
		"re":         d.re,
		"ts":         d.ts,
		"epoch_ms":   d.epochMs,
		"pct":        d.pct,
		"ts_from_ms": d.tsFromMs,
		"integers":   d.integers,
		"hour_literal": func() string {
			return "TIMESTAMP '" + h.Start.UTC().Truncate(time.Hour).Format("2006-01-02 15:04:05") + "'"
		},
		"param": func(name string) (string, error) {
			v, ok := values[name]
			if !ok {
				return "", fmt.Errorf("no parameter %q", name)
			}
			params = append(params, Param{Name: name, Value: v})
			return "?", nil
		},
		"bronze": func() (string, error) { return include(tmpl, d.bronze, data) },
		"alerts": func() (string, error) { return include(tmpl, d.alerts, data) },
	}
	tmpl, err := template.New("").Funcs(funcs).Option("missingkey=error").ParseFS(sqlFiles, "sql/*.sql")
	if err != nil {
		return Statement{}, fmt.Errorf("parsing SQL templates: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, file, data); err != nil {
		return Statement{}, fmt.Errorf("rendering %s for %s: %w", file, d.name, err)
	}
	return Statement{Name: strings.TrimSuffix(file, ".sql"), SQL: strings.TrimSpace(b.String()) + "\n", Params: params}, nil
}

func include(t *template.Template, name string, data renderData) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// AthenaStatements renders the statements that replace one hour in the Athena (Iceberg) table:
// DELETE the hour's rows, then INSERT them anew.
func AthenaStatements(database string, h Hour) ([]Statement, error) {
	var out []Statement
	for _, f := range []string{"athena_delete.sql", "athena_insert.sql"} {
		s, err := render(athena, f, h, renderData{Database: database})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// DuckDBFiles are the files of one hour a DuckDB statement reads: bronze, alerts and the
// rejections index.
type DuckDBFiles struct {
	Bronze, Alerts, Rejections []string
}

func (f DuckDBFiles) data() renderData {
	return renderData{BronzeFiles: listLiteral(f.Bronze), AlertFiles: listLiteralOrEmpty(f.Alerts), RejectionFiles: listLiteralOrEmpty(f.Rejections)}
}

// DuckDBStatement renders the COPY that writes one hour's rows to a Parquet file. Files are given
// as paths; they become SQL string literals (they name the engine's input and output, they are
// not values of the query).
func DuckDBStatement(files DuckDBFiles, output string, h Hour) (Statement, error) {
	data := files.data()
	data.Output = sqlString(output)
	return render(duckdb, "duckdb_copy.sql", h, data)
}

// DuckDBSelect renders the hour's SELECT alone (for benchmarks and tests).
func DuckDBSelect(files DuckDBFiles, h Hour) (Statement, error) {
	return render(duckdb, "hourly.sql", h, files.data())
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
