package aggregate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	goldenfile "github.com/iotwatch/iotwatch/shared/testsupport/golden"
)

func golden(t *testing.T, name, got string) { t.Helper(); goldenfile.Check(t, name, got) }

func render4golden(sts ...Statement) string {
	var b strings.Builder
	for _, st := range sts {
		sql := st.SQL
		if !strings.HasSuffix(sql, "\n") {
			sql += "\n" // the maintenance statements are one line
		}
		fmt.Fprintf(&b, "-- %s\n%s-- parameters:", st.Name, sql)
		for i, p := range st.Params {
			fmt.Fprintf(&b, " %d:%s=%s", i+1, p.Name, p.Literal())
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// placeholders counts the ? outside string literals ('...' with ” for a quote).
func placeholders(sql string) int {
	n, in := 0, false
	for _, c := range sql {
		switch {
		case c == '\'':
			in = !in
		case c == '?' && !in:
			n++
		}
	}
	return n
}

// maintainedAt is when the daily maintenance of the tests runs: its schedule's time on hour7's day.
var maintainedAt = time.Date(2026, 3, 1, 3, 35, 0, 0, time.UTC)

var hour7 = Hour{Start: time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC), ExpectedReadings: 60}

// testCatalog declares two metrics, one of them with a name that is also a column of the queries.
func testCatalog(t *testing.T) *reading.Catalog {
	t.Helper()
	c, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,-0.5,100000,5\nreason,,0.1,1e21,\n"), "metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCatalogSQLGolden: the statements of an hour and a day with declared metrics, for both
// engines; every value but the catalog's (names, ranges) is a parameter.
func TestCatalogSQLGolden(t *testing.T) {
	h := hour7
	h.Catalog = testCatalog(t)
	d := Day{Start: hour7.Start, ExpectedReadings: 60, Catalog: h.Catalog}
	sts, err := AthenaStatements("iotwatch_lake", h)
	if err != nil {
		t.Fatal(err)
	}
	day, err := AthenaDayStatements("iotwatch_lake", d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "athena-catalog-2026-03-01T07.sql", render4golden(append(sts, day...)...))
	for _, st := range append(sts, day...) {
		if n := placeholders(st.SQL); n != len(st.Params) {
			t.Errorf("%s has %d placeholders and %d parameters", st.Name, n, len(st.Params))
		}
	}
	files := DuckDBFiles{Bronze: []string{"/lake/bronze/dt=2026-03-01/hour=07/a.json.gz"}, Silver: []string{"/lake/silver/readings/dt=2026-03-01/hour=07.parquet"}}
	var duck []Statement
	for _, l := range []string{SilverLayer, HourlyValuesLayer} {
		st, err := DuckDBStatement(l, files, "/lake/"+l+".parquet.tmp", h)
		if err != nil {
			t.Fatal(err)
		}
		duck = append(duck, st)
	}
	st, err := DuckDBDayStatement(DailyValuesLayer, files, "/lake/day.parquet.tmp", d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "duckdb-catalog-2026-03-01T07.sql", render4golden(append(duck, st)...))
}

func TestAthenaSQLGolden(t *testing.T) {
	sts, err := AthenaStatements("iotwatch_lake", hour7)
	if err != nil {
		t.Fatal(err)
	}
	day, err := AthenaDayStatements("iotwatch_lake", Day{Start: hour7.Start, ExpectedReadings: 60})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "athena-2026-03-01T07.sql", render4golden(sts...))
	golden(t, "athena-2026-03-01.sql", render4golden(day...))
	golden(t, "athena-tables.sql", render4golden(TableStatements("iotwatch_lake", "iotwatch-lake-123456789012")...))
	// the daily maintenance as the schedule runs it, at 03:35 UTC: compaction from two days before on
	golden(t, "athena-maintenance.sql", render4golden(MaintenanceStatements("iotwatch_lake", MaintainSince(maintainedAt))...))
	for _, st := range append(sts, day...) {
		if strings.HasSuffix(st.Name, " delete") {
			continue // Athena takes no parameters in DELETE: see TestAthenaParametersOnlyInWhere
		}
		// every value of the query is a parameter: none appears in the text but the period's start,
		// as a typed literal formatted from a time.Time (the constant hour_start of dq_hourly and
		// location_hourly)
		text := strings.ReplaceAll(st.SQL, "TIMESTAMP '2026-03-01 07:00:00'", "")
		for _, v := range []string{"2026-03-01", "1772348400000", "07:00:00"} {
			if strings.Contains(text, v) {
				t.Errorf("%s has %q in its text; values must be parameters", st.Name, v)
			}
		}
		if n := placeholders(st.SQL); n != len(st.Params) {
			t.Errorf("%s has %d placeholders and %d parameters", st.Name, n, len(st.Params))
		}
	}
}

func TestDuckDBSQLGolden(t *testing.T) {
	files := DuckDBFiles{Bronze: []string{"/lake/bronze/dt=2026-03-01/hour=07/a.json.gz", "/lake/bronze/dt=2026-03-01/hour=07/b'c.json.gz"},
		Rejections: []string{"/lake/rejections/dt=2026-03-01/hour=07/r.json.gz"},
		Alerts:     []string{"/lake/alerts/dt=2026-03-01/hour=07/a.json.gz"},
		Silver:     []string{"/lake/silver/readings/dt=2026-03-01/hour=07.parquet"}}
	var sts []Statement
	for _, l := range []string{SilverLayer, HourlyLayer, DQLayer, LocationLayer, HourlyValuesLayer} {
		st, err := DuckDBStatement(l, files, "/lake/"+l+".parquet.tmp", hour7)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	for _, l := range []string{DailyLayer, DailyValuesLayer} {
		day, err := DuckDBDayStatement(l, DuckDBFiles{Silver: files.Silver, Alerts: files.Alerts}, "/lake/"+l+".parquet.tmp", Day{Start: hour7.Start, ExpectedReadings: 60})
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, day)
	}
	golden(t, "duckdb-2026-03-01T07.sql", render4golden(sts...))
	if !strings.Contains(sts[0].SQL, `'/lake/bronze/dt=2026-03-01/hour=07/b''c.json.gz'`) {
		t.Errorf("a quote in a path is not escaped")
	}
}

// TestDialectsShareTheQuery: the two renderings differ only where the dialects do.
func TestDialectsShareTheQuery(t *testing.T) {
	a, _ := AthenaStatements("db", hour7)
	files := DuckDBFiles{Bronze: []string{"/x"}, Alerts: []string{"/y"}, Silver: []string{"/z"}}
	s, _ := DuckDBSelect(SilverLayer, files, hour7)
	g, _ := DuckDBSelect(HourlyLayer, files, hour7)
	for _, c := range []struct {
		athena int
		duck   Statement
		shared []string
	}{
		{1, s, []string{"CASE WHEN msg_id <> '' THEN 'm:' || msg_id ELSE 't:'", "PARTITION BY device_id, identity", "BETWEEN -50 AND 150", "occupancy IN (0, 1)", "WHEN line_bytes > 16384 THEN 'too_large'", "r.temperature < 16 OR r.temperature > 28"}},
		{3, g, []string{"kind IN ('OPEN', 'ESCALATE')", "round(avg(temperature), 6)"}},
	} {
		for _, shared := range c.shared {
			if !strings.Contains(a[c.athena].SQL, shared) || !strings.Contains(c.duck.SQL, shared) {
				t.Errorf("%q is not in both renderings", shared)
			}
		}
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		p    Param
		want string
	}{{Param{"a", "2026-03-01"}, "'2026-03-01'"}, {Param{"b", "it's"}, "'it''s'"}, {Param{"c", int64(60)}, "60"}} {
		if got := tc.p.Literal(); got != tc.want {
			t.Errorf("Literal(%v) = %s; want %s", tc.p, got, tc.want)
		}
	}
}

// TestAthenaParametersOnlyInWhere: Athena accepts execution parameters only in SELECT, INSERT INTO,
// CTAS and UNLOAD, and only in WHERE clauses. Every ? must follow a WHERE (or AND/OR of one) on its
// line or the lines before it within the same clause, and DELETE takes none.
func TestAthenaParametersOnlyInWhere(t *testing.T) {
	h := hour7
	h.Catalog = testCatalog(t)
	var sts []Statement
	for _, hr := range []Hour{hour7, h} {
		s, err := AthenaStatements("db", hr)
		if err != nil {
			t.Fatal(err)
		}
		day, err := AthenaDayStatements("db", Day{Start: hr.Start, ExpectedReadings: 60, Catalog: hr.Catalog})
		if err != nil {
			t.Fatal(err)
		}
		sts = append(append(sts, s...), day...)
	}
	for _, st := range sts {
		if strings.HasPrefix(st.SQL, "DELETE") && len(st.Params) > 0 || strings.HasPrefix(st.SQL, "DELETE") && strings.Contains(st.SQL, "?") {
			t.Errorf("DELETE has parameters; Athena refuses them")
		}
		clause := ""
		for _, line := range strings.Split(st.SQL, "\n") {
			trim := strings.TrimSpace(line)
			for _, kw := range []string{"SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LEFT JOIN", "CROSS JOIN", "HAVING"} {
				if i := strings.LastIndex(strings.ToUpper(trim), kw+" "); i >= 0 && (i == 0 || trim[i-1] == ' ' || trim[i-1] == '(') {
					if j := strings.LastIndex(trim, "?"); j < 0 || i > j {
						clause = kw
					} else if strings.Contains(trim[:j], "WHERE ") {
						clause = "WHERE"
					}
				}
			}
			if placeholders(line) > 0 && clause != "WHERE" && !strings.Contains(line, "WHERE ") {
				t.Errorf("%s: a parameter outside a WHERE clause (in %s): %s", st.Name, clause, trim)
			}
		}
	}
}
