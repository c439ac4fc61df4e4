// Package grafana holds the Grafana dashboards of the stack (JSON, importable into Amazon Managed
// Grafana or any Grafana); this test holds them to the lake and to the metrics that exist.
package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

type target struct {
	RefID      string `json:"refId"`
	Datasource struct {
		Type, UID string
	} `json:"datasource"`
	RawSQL     string              `json:"rawSQL"`
	Format     *int                `json:"format"`
	Namespace  string              `json:"namespace"`
	MetricName string              `json:"metricName"`
	Dimensions map[string][]string `json:"dimensions"`
	Expression string              `json:"expression"`
	Mode       int                 `json:"metricEditorMode"`
}

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Type, Name string
			Query      any
			Datasource struct{ Type, UID string }
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct{ Type, UID string }
		Targets    []target `json:"targets"`
		Repeat     string   `json:"repeat"`
	} `json:"panels"`
}

func load(t *testing.T) map[string]dashboard {
	files, err := filepath.Glob("*.json")
	require.NoError(t, err)
	require.Len(t, files, 2)
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), f)
		out[f] = d
	}
	return out
}

// TestDashboardsAreImportable: a schema version Grafana 10 and 11 import, and every data source
// a variable (${athena}, ${cloudwatch}) that the importer chooses, none an instance's uid.
func TestDashboardsAreImportable(t *testing.T) {
	plugins := map[string]string{"athena": "grafana-athena-datasource", "cloudwatch": "cloudwatch"}
	for f, d := range load(t) {
		assert.GreaterOrEqual(t, d.SchemaVersion, 36, f)
		assert.NotEmpty(t, d.UID, f)
		vars := map[string]any{}
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				vars[v.Name] = v.Query
				assert.Equal(t, plugins[v.Name], v.Query, "%s: data source variable %s", f, v.Name)
			}
		}
		require.NotEmpty(t, d.Panels, f)
		for _, p := range d.Panels {
			assert.Regexp(t, `^\$\{(athena|cloudwatch)\}$`, p.Datasource.UID, "%s: panel %q", f, p.Title)
			assert.Equal(t, plugins[strings.Trim(p.Datasource.UID, "${}")], p.Datasource.Type, "%s: panel %q", f, p.Title)
			assert.Contains(t, vars, strings.Trim(p.Datasource.UID, "${}"), "%s: panel %q uses a variable the dashboard defines", f, p.Title)
			require.NotEmpty(t, p.Targets, "%s: panel %q", f, p.Title)
			for _, tg := range p.Targets {
				assert.Equal(t, p.Datasource.UID, tg.Datasource.UID, "%s: panel %q", f, p.Title)
			}
		}
	}
}

// athenaOnly are the functions the panels' SQL may call: Trino's (Athena) that DuckDB also has,
// or that the test defines for DuckDB as Trino defines them. A function DuckDB alone knows would
// pass the run below and fail on Athena.
var athenaOnly = map[string]bool{"sum": true, "count_star": true, "count": true, "count_if": true, "max": true, "min": true, "avg": true, "least": true,
	"from_iso8601_timestamp": true, "date_trunc": true, "date_diff": true, "*": true, "/": true, "+": true, "-": true}

// functions lists the function names a parsed statement calls.
func functions(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if x["class"] == "FUNCTION" || x["class"] == "AGGREGATE" {
			if n, ok := x["function_name"].(string); ok {
				out[n] = true
			}
		}
		for _, c := range x {
			functions(c, out)
		}
	case []any:
		for _, c := range x {
			functions(c, out)
		}
	}
}

// TestAthenaPanelsRunOnTheLake runs every Athena panel's SQL, and every Athena query variable's,
// its Grafana macros and variables expanded as the Athena data source expands them, on a generated
// lake through DuckDB (the local engine, over the same tables and columns as the Glue catalog): each
// parses, names only the lake's tables and columns, calls only functions Athena has, and returns
// rows. A variable's values are its query's answer, all of them selected, as the importer leaves
// it. The alert panels show alerts on any metric (the lake's co2_high too) and each follows the
// metric variable: with only co2 chosen, each still has rows, and none of temperature.
func TestAthenaPanelsRunOnTheLake(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 2, RealGold: true, CO2: true})
	ctx := context.Background()
	e, err := duckdbengine.Open(ctx, l.Root)
	require.NoError(t, err)
	defer e.Close()
	writeDeclared(t, e, l)
	require.NoError(t, e.DefineViews(ctx))
	// Trino's from_iso8601_timestamp, for DuckDB.
	_, err = e.DB().ExecContext(ctx, "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
	require.NoError(t, err)
	from, to := l.End.Add(-48*time.Hour), l.End
	expand := strings.NewReplacer(
		"${__from:date:YYYY-MM-DD}", from.Format("2006-01-02"), "${__to:date:YYYY-MM-DD}", to.Format("2006-01-02"),
		"${__from:date:iso}", from.Format("2006-01-02T15:04:05.000Z"), "${__to:date:iso}", to.Format("2006-01-02T15:04:05.000Z"))
	timeFilter := regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
	// run checks one statement as Grafana sends it (vars: each variable's selected values) and
	// returns its rows, each cell as text.
	run := func(what, raw string, format int, vars map[string][]string) [][]string {
		t.Helper()
		sql := timeFilter.ReplaceAllString(raw, "$1 BETWEEN TIMESTAMP '"+from.Format("2006-01-02 15:04:05")+"' AND TIMESTAMP '"+to.Format("2006-01-02 15:04:05")+"'")
		sql = expand.Replace(sql)
		for name, vals := range vars {
			quoted := make([]string, len(vals))
			for i, v := range vals {
				quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			sql = strings.ReplaceAll(sql, "${"+name+":sqlstring}", strings.Join(quoted, ", "))
		}
		require.NotContains(t, sql, "$", "%s has a macro or variable the test does not expand", what)
		var parsed string
		require.NoError(t, e.DB().QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)", sql).Scan(&parsed))
		var tree map[string]any
		require.NoError(t, json.Unmarshal([]byte(parsed), &tree))
		require.Equal(t, false, tree["error"], "%s does not parse: %v", what, tree["error_message"])
		called := map[string]bool{}
		functions(tree, called)
		for fn := range called {
			assert.True(t, athenaOnly[fn], "%s calls %s", what, fn)
		}
		rows, err := e.DB().QueryContext(ctx, sql)
		require.NoError(t, err, "%s:\n%s", what, sql)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		var out [][]string
		for rows.Next() {
			cells := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range cells {
				ptrs[i] = &cells[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			text := make([]string, len(cells))
			for i, c := range cells {
				text[i] = fmt.Sprint(c)
			}
			out = append(out, text)
		}
		require.NoError(t, rows.Err())
		assert.NotEmpty(t, out, "%s returns no row on the lake", what)
		if format == 0 {
			assert.Equal(t, "time", cols[0], "%s: a time series panel's first column is its time", what)
		}
		return out
	}
	panels, variables := 0, 0
	for f, d := range load(t) {
		vars := map[string][]string{}
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource.UID != "${athena}" {
				continue
			}
			variables++
			q, _ := v.Query.(map[string]any)
			raw, _ := q["rawSQL"].(string)
			require.NotEmpty(t, raw, "%s: variable %s has no rawSQL", f, v.Name)
			for _, row := range run(f+": variable "+v.Name, raw, 1, vars) {
				vars[v.Name] = append(vars[v.Name], row[0])
			}
		}
		var shown strings.Builder // every cell of every panel
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.UID != "${athena}" {
					continue
				}
				panels++
				what := fmt.Sprintf("%s: panel %q", f, p.Title)
				require.NotNil(t, tg.Format, "%s: format (0 time series, 1 table)", what)
				for _, row := range run(what, tg.RawSQL, *tg.Format, vars) {
					shown.WriteString(strings.Join(row, " ") + "\n")
				}
				if p.Repeat != "" {
					assert.Contains(t, vars, p.Repeat, "%s repeats for a variable the dashboard defines", what)
					assert.Contains(t, tg.RawSQL, "${"+p.Repeat+":sqlstring}", "%s reads the variable it repeats for", what)
					one := map[string][]string{"device": vars["device"], p.Repeat: {"pm25"}}
					assert.NotEmpty(t, run(what+" repeated for pm25", tg.RawSQL, *tg.Format, one))
				}
				if !strings.Contains(tg.RawSQL, "FROM alerts") {
					continue
				}
				assert.Contains(t, tg.RawSQL, "${metric:sqlstring}", "%s reads alerts but not the metric variable", what)
				only := map[string][]string{"device": vars["device"], "metric": {"co2"}}
				for _, row := range run(what+" with metric co2", tg.RawSQL, *tg.Format, only) {
					for _, cell := range row {
						assert.NotContains(t, cell, "temperature", "%s with metric co2", what)
					}
				}
			}
		}
		if strings.Contains(f, "lake") {
			assert.Contains(t, vars["metric"], "co2", "%s: the metric variable offers the lake's metrics", f)
			assert.Equal(t, []string{"pm25", "power_w"}, vars["declared"], "%s: the declared variable offers the lake's declared metrics", f)
			for _, want := range []string{"co2_high", "temperature_high", "device_silent"} {
				assert.Contains(t, shown.String(), want, "%s: no panel shows %s", f, want)
			}
		}
	}
	assert.Equal(t, 10, panels, "the Athena panels")
	assert.Equal(t, 3, variables, "the Athena query variables (device, metric, declared)")
}

// writeDeclared writes hourly_metric_values for every hour of the lake's gold: pm25 for every
// device, power_w for the first (the declared metrics of docs/metrics.md's example).
func writeDeclared(t *testing.T, e *duckdbengine.Engine, l lakegen.Lake) {
	t.Helper()
	for h := l.End.Add(-48 * time.Hour); h.Before(l.End); h = h.Add(time.Hour) {
		out := filepath.Join(l.Root, filepath.FromSlash(lake.HourFile(lake.HourlyMetricValuesTable.Prefix, h)))
		require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
		_, err := e.DB().Exec(fmt.Sprintf(`COPY (SELECT device_id, TIMESTAMP '%s' AS hour_start, metric, 60::BIGINT AS readings, 10.0 AS value_min,
			20.0 AS value_avg, 30.0 AS value_max, 29.0 AS value_p95 FROM (VALUES ('room-000', 'pm25'), ('room-001', 'pm25'), ('room-002', 'pm25'),
			('room-000', 'power_w')) v(device_id, metric)) TO '%s' (FORMAT parquet)`, h.Format("2006-01-02 15:04:05"), out))
		require.NoError(t, err)
	}
}

// emitted is every metric name the functions put (lambdametrics.go and silencelambda.go), read
// from the code, so that a renamed metric fails here.
func emitted(t *testing.T) map[string]bool {
	out := map[string]bool{}
	re := regexp.MustCompile(`Put\("([A-Za-z]+)"|Metric\{Name: "([A-Za-z]+)"`)
	for _, f := range []string{"../../shared/aws/lambdametrics/lambdametrics.go", "../../shared/aws/silencelambda/silencelambda.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]+m[2]] = true
		}
	}
	return out
}

// published is what AWS publishes that the panels read, from the service's documentation:
// Kinesis Data Streams' stream-level metrics (https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html).
var published = map[string]map[string][]string{
	"AWS/Kinesis": {"IncomingRecords": {"StreamName"}, "GetRecords.IteratorAgeMilliseconds": {"StreamName"}},
}

// TestCloudWatchPanelsReadMetricsThatExist: every CloudWatch panel reads a metric that AWS
// publishes with those dimensions, or one the functions emit (namespace iotwatch, dimension
// Function, and Reason or Kind and Severity on Rejected and Alerts).
func TestCloudWatchPanelsReadMetricsThatExist(t *testing.T) {
	ours := emitted(t)
	require.Contains(t, ours, "Readings")
	search := regexp.MustCompile(`^SEARCH\('\{iotwatch,([A-Za-z,]+)\} MetricName="([A-Za-z]+)"`)
	for f, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.UID != "${cloudwatch}" {
					continue
				}
				if tg.Mode == 1 {
					m := search.FindStringSubmatch(tg.Expression)
					require.NotNil(t, m, "%s: panel %q: %s", f, p.Title, tg.Expression)
					assert.True(t, ours[m[2]], "%s: panel %q searches %s, which no function emits", f, p.Title, m[2])
					continue
				}
				var dims []string
				for k := range tg.Dimensions {
					dims = append(dims, k)
				}
				sort.Strings(dims)
				switch tg.Namespace {
				case "iotwatch":
					assert.True(t, ours[tg.MetricName], "%s: panel %q reads %s, which no function emits", f, p.Title, tg.MetricName)
					assert.Equal(t, []string{"Function"}, dims, "%s: panel %q", f, p.Title)
				default:
					want, ok := published[tg.Namespace][tg.MetricName]
					assert.True(t, ok, "%s: panel %q reads %s %s, which is not in the published table", f, p.Title, tg.Namespace, tg.MetricName)
					assert.Equal(t, want, dims, "%s: panel %q", f, p.Title)
				}
			}
		}
	}
}
