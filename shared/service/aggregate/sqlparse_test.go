package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/need"
)

// A statement to parse with a grammar of dt-sql-parser: "trino" (Athena's DML, SELECT, DELETE,
// INSERT, runs on Trino) or "hive" (Athena runs DDL on its Hive engine).
type parseCase struct {
	Name    string `json:"name"`
	Dialect string `json:"dialect"`
	SQL     string `json:"sql"`
}

// parseResult is what testdata/parse-sql.mjs reports of a statement: how many statements its SQL
// holds and its syntax errors (line and column 1-based).
type parseResult struct {
	Name       string `json:"name"`
	Statements int    `json:"statements"`
	Errors     []struct {
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	} `json:"errors"`
}

// parseSQL parses each case with its grammar (dt-sql-parser, pinned in the root package.json, run
// on node by testdata/parse-sql.mjs). The test is skipped, or failed under IOTWATCH_REQUIRE, when
// node or the package is missing.
func parseSQL(t *testing.T, cases []parseCase) []parseResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		need.Missing(t, need.NodeModules, "node is not installed (apt-get install nodejs npm, then npm ci; .ci/run does)")
	}
	if _, err := os.Stat("../../../node_modules/dt-sql-parser/package.json"); err != nil {
		need.Missing(t, need.NodeModules, fmt.Sprintf("dt-sql-parser is not installed (npm ci installs it): %v", err))
	}
	script := filepath.Join("testdata", "parse-sql.mjs")
	_, err = os.Stat(script) // so that go test's cache knows of the script
	require.NoError(t, err)
	in, err := json.Marshal(cases)
	require.NoError(t, err)
	cmd := exec.Command(node, script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "testdata/parse-sql.mjs: %s", stderr.String())
	var res []parseResult
	require.NoError(t, json.Unmarshal(out, &res), "testdata/parse-sql.mjs wrote %s", out)
	require.Len(t, res, len(cases))
	for i := range res {
		require.Equal(t, cases[i].Name, res[i].Name)
	}
	return res
}

// athenaStatementsSent are the statements the aggregate function sends Athena: an hour's and a
// day's, without and with a metrics catalog (the renderings of the athena-*.sql golden files), the
// Iceberg DDL, each added column's probe and ALTER TABLE, and the daily maintenance.
func athenaStatementsSent(t *testing.T) []Statement {
	t.Helper()
	const db = "iotwatch_lake"
	var sts []Statement
	for _, withCatalog := range []bool{false, true} {
		h, d := hour7, Day{Start: hour7.Start, ExpectedReadings: 60}
		suffix := ""
		if withCatalog {
			h.Catalog = testCatalog(t)
			d.Catalog = h.Catalog
			suffix = " (catalog)"
		}
		hour, err := AthenaStatements(db, h)
		require.NoError(t, err)
		day, err := AthenaDayStatements(db, d)
		require.NoError(t, err)
		for _, st := range append(hour, day...) {
			st.Name += suffix
			sts = append(sts, st)
		}
	}
	sts = append(sts, TableStatements(db, "iotwatch-lake-123456789012")...)
	for _, pair := range ColumnStatements(db) {
		sts = append(sts, pair[0], pair[1])
	}
	return append(sts, MaintenanceStatements(db, MaintainSince(maintainedAt))...)
}

var (
	// Athena's Iceberg partition transform of a timestamp column (hidden partitioning), which
	// Hive's grammar lacks: checked here, and left out of what the Hive grammar parses.
	icebergPartition = regexp.MustCompile(`(?m)^PARTITIONED BY \((?:year|month|day|hour)\((\w+)\)\)\n`)
	// Athena's own maintenance statements, in neither grammar (Trino's is ALTER TABLE … EXECUTE):
	// checked against the syntax Athena documents.
	// OPTIMIZE's WHERE, a predicate Trino parses, is parsed as a query's WHERE.
	optimize = regexp.MustCompile(`^OPTIMIZE (\w+\.(\w+)) REWRITE DATA USING BIN_PACK WHERE ((\w+) .*)$`)
	vacuum   = regexp.MustCompile(`^VACUUM \w+\.\w+$`)
)

// TestAthenaSQLParses: every statement the aggregate function sends Athena is one statement
// without a syntax error in the grammar of the engine Athena runs it on: the queries, the probes,
// DELETE and INSERT in Trino's; CREATE TABLE … Iceberg and ALTER TABLE ADD COLUMNS in Hive's
// (Athena's DDL), but for the Iceberg partition transform; OPTIMIZE and VACUUM, in neither,
// match Athena's syntax. Athena never runs here (no AWS), and DuckDB runs other renderings of the
// templates: this is the check that the Athena dialect is Athena's SQL.
func TestAthenaSQLParses(t *testing.T) {
	t.Parallel() // node takes seconds to load the grammars
	var cases []parseCase
	kinds := map[string]int{}
	for _, st := range athenaStatementsSent(t) {
		sql := st.SQL
		kind := strings.Fields(sql)[0]
		kinds[kind]++
		switch kind {
		case "OPTIMIZE":
			m := optimize.FindStringSubmatch(strings.TrimSpace(sql))
			require.NotNil(t, m, "%s: %s", st.Name, sql)
			require.Equal(t, partitionOf(t, m[2]), m[4], "%s: Athena allows the partition column only in OPTIMIZE's WHERE", st.Name)
			cases = append(cases, parseCase{st.Name + " (its WHERE)", "trino", "SELECT 1 FROM " + m[1] + " WHERE " + m[3] + "\n"})
			continue
		case "VACUUM":
			require.Regexp(t, vacuum, strings.TrimSpace(sql), st.Name)
			continue
		case "CREATE":
			m := icebergPartition.FindAllStringSubmatch(sql, -1)
			require.Len(t, m, 1, "%s: one Iceberg partition transform\n%s", st.Name, sql)
			require.Regexp(t, `(?m)^  `+m[0][1]+` timestamp[,)]$`, sql, "%s: partitions by a timestamp column of the table", st.Name)
			sql = icebergPartition.ReplaceAllString(sql, "")
			fallthrough
		case "ALTER":
			cases = append(cases, parseCase{st.Name, "hive", sql})
		default:
			cases = append(cases, parseCase{st.Name, "trino", sql})
		}
	}
	for _, k := range []string{"CREATE", "ALTER", "SELECT", "DELETE", "INSERT", "OPTIMIZE", "VACUUM"} {
		require.NotZero(t, kinds[k], "no %s statement among the statements sent", k)
	}
	for i, r := range parseSQL(t, cases) {
		c := cases[i]
		for _, e := range r.Errors {
			t.Errorf("%s does not parse as %s: line %d, column %d: %s\n%s", c.Name, c.Dialect, e.Line, e.Column, e.Message, around(c.SQL, e.Line))
		}
		if len(r.Errors) == 0 && r.Statements != 1 {
			t.Errorf("%s holds %d statements, not one", c.Name, r.Statements)
		}
	}
}

// partitionOf is the column an Iceberg table's partition transform reads.
func partitionOf(t *testing.T, table string) string {
	t.Helper()
	for _, it := range icebergTables {
		if it.table.Name == table {
			return partitionColumn(it.partition)
		}
	}
	t.Fatalf("%s is not an Iceberg table of the aggregation", table)
	return ""
}

// TestParserRejectsBrokenSQL: the grammars of TestAthenaSQLParses fail SQL that is not theirs, so
// that its passing means something.
func TestParserRejectsBrokenSQL(t *testing.T) {
	t.Parallel()
	cases := []parseCase{
		{"valid query", "trino", "SELECT device_id FROM iotwatch_lake.silver_readings WHERE event_time >= ? AND false\n"},
		{"valid DDL", "hive", "CREATE TABLE IF NOT EXISTS d.t (\n  a string,\n  m map<string,double>)\nLOCATION 's3://b/t/'\nTBLPROPERTIES ('table_type' = 'ICEBERG')\n"},
		{"misspelt keyword", "trino", "SELECT device_id FROM iotwatch_lake.silver_readings\nWHER event_time >= ?\n"},
		{"unclosed parenthesis", "trino", "SELECT count(* FROM iotwatch_lake.silver_readings\n"},
		{"DuckDB's COPY", "trino", "COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)\n"},
		{"DuckDB's ::", "trino", "SELECT '2026-03-01'::DATE\n"},
		{"Hive DDL as Trino", "trino", "ALTER TABLE d.t ADD COLUMNS (m map<string,double>)\n"},
		{"misspelt DDL", "hive", "CREATE TABLE IF NOT EXIST d.t (a string)\n"},
		{"Iceberg transform", "hive", "CREATE TABLE d.t (a timestamp)\nPARTITIONED BY (day(a))\n"},
	}
	res := parseSQL(t, cases)
	for i, r := range res[:2] {
		require.Empty(t, r.Errors, cases[i].Name)
		require.Equal(t, 1, r.Statements, cases[i].Name)
	}
	for i, r := range res[2:] {
		require.NotEmpty(t, r.Errors, "%s parsed as %s", cases[i+2].Name, cases[i+2].Dialect)
	}
	require.Equal(t, 2, res[2].Errors[0].Line, "the misspelt keyword's line: %+v", res[2].Errors)
}

// around returns sql's lines near line (1-based), numbered, line marked.
func around(sql string, line int) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(sql, "\n"), "\n") {
		if n := i + 1; n >= line-2 && n <= line+2 {
			mark := "  "
			if n == line {
				mark = "> "
			}
			fmt.Fprintf(&b, "%s%4d  %s\n", mark, n, l)
		}
	}
	return b.String()
}
