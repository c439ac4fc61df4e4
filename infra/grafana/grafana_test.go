// Package grafana holds the Grafana dashboards of the stack (JSON, importable into Amazon Managed
// Grafana or any Grafana); this test holds them to the lake and to the metrics that exist.
package grafana

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct{ Type, UID string }
		Targets    []target `json:"targets"`
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
var athenaOnly = map[string]bool{"sum": true, "count_star": true, "count": true, "max": true, "min": true, "avg": true, "least": true,
	"from_iso8601_timestamp": true, "*": true, "/": true, "+": true, "-": true}

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

// TestAthenaPanelsRunOnTheLake runs every Athena panel's SQL, its Grafana macros and variables
// expanded as the Athena data source expands them, on a generated lake through DuckDB (the local
// engine, over the same tables and columns as the Glue catalog): each parses, names only the
// lake's tables and columns, calls only functions Athena has, and returns rows.
func TestAthenaPanelsRunOnTheLake(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 2, RealGold: true})
	ctx := context.Background()
	e, err := duckdbengine.Open(ctx, l.Root)
	require.NoError(t, err)
	defer e.Close()
	require.NoError(t, e.DefineViews(ctx))
	// Trino's from_iso8601_timestamp, for DuckDB.
	_, err = e.DB().ExecContext(ctx, "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
	require.NoError(t, err)
	from, to := l.End.Add(-48*time.Hour), l.End
	expand := strings.NewReplacer(
		"${__from:date:YYYY-MM-DD}", from.Format("2006-01-02"), "${__to:date:YYYY-MM-DD}", to.Format("2006-01-02"),
		"${__from:date:iso}", from.Format("2006-01-02T15:04:05.000Z"), "${__to:date:iso}", to.Format("2006-01-02T15:04:05.000Z"),
		"${device:sqlstring}", "'room-000', 'room-001', 'room-002'")
	timeFilter := regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
	n := 0
	for f, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.UID != "${athena}" {
					continue
				}
				n++
				sql := timeFilter.ReplaceAllString(tg.RawSQL, "$1 BETWEEN TIMESTAMP '"+from.Format("2006-01-02 15:04:05")+"' AND TIMESTAMP '"+to.Format("2006-01-02 15:04:05")+"'")
				sql = expand.Replace(sql)
				assert.NotContains(t, sql, "$", "%s: panel %q has a macro or variable the test does not expand", f, p.Title)
				require.NotNil(t, tg.Format, "%s: panel %q: format (0 time series, 1 table)", f, p.Title)
				var parsed string
				require.NoError(t, e.DB().QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)", sql).Scan(&parsed))
				var tree map[string]any
				require.NoError(t, json.Unmarshal([]byte(parsed), &tree))
				require.Equal(t, false, tree["error"], "%s: panel %q does not parse: %v", f, p.Title, tree["error_message"])
				called := map[string]bool{}
				functions(tree, called)
				for fn := range called {
					assert.True(t, athenaOnly[fn], "%s: panel %q calls %s", f, p.Title, fn)
				}
				rows, err := e.DB().QueryContext(ctx, sql)
				require.NoError(t, err, "%s: panel %q:\n%s", f, p.Title, sql)
				count := 0
				for rows.Next() {
					count++
				}
				require.NoError(t, rows.Err())
				rows.Close()
				assert.Positive(t, count, "%s: panel %q returns no row on the lake", f, p.Title)
				if *tg.Format == 0 {
					cols, _ := sqlColumns(ctx, e, sql)
					assert.Equal(t, "time", cols[0], "%s: a time series panel's first column is its time", f)
				}
			}
		}
	}
	assert.Equal(t, 7, n, "the Athena panels")
}

func sqlColumns(ctx context.Context, e *duckdbengine.Engine, sql string) ([]string, error) {
	rows, err := e.DB().QueryContext(ctx, sql+" LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
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
