package rule

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Columns are the rules file's columns (DESIGN.md), in the order WriteCSV writes them.
var Columns = []string{"user_id", "scope", "metric", "rule", "warning", "violation", "sustain_seconds", "hysteresis", "remind_seconds", "floor"}

var csvColumns = csvfile.Columns{Known: Columns, Required: []string{"user_id", "scope", "rule"}, Ignored: []string{threshold.VersionColumn}}

// ParseCSV reads a whole rules file (the long form; name is the file's name in messages),
// validated whole against metrics: any problem refuses the file, every one named by line and
// field, and no row is returned.
func ParseCSV(r io.Reader, name string, metrics Metrics) ([]Row, error) {
	type lined struct {
		Row
		line int
	}
	got, err := csvfile.Read(r, name, csvColumns, func(c *csvfile.Row) lined {
		return lined{parseRow(c, metrics), c.Line()}
	})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(got))
	for i, l := range got {
		rows[i] = l.Row
	}
	if err := Check(rows, func(i int) string { return fmt.Sprintf("%s:%d", name, got[i].line) }); err != nil {
		return nil, err
	}
	return rows, nil
}

// ParseKeys reads the rows' keys of a rules file (user_id, scope, metric, rule; the other
// columns are not read), for deleting them: any bad key refuses the file, line and field named.
func ParseKeys(r io.Reader, name string, metrics Metrics) ([]Key, error) {
	seen := map[Key]int{} // the line of each key
	keys, err := csvfile.Read(r, name, csvColumns, func(c *csvfile.Row) Key {
		k, err := ParseKey(c.Raw("user_id"), c.Get("scope"), c.Get("metric"), c.Get("rule"), metrics)
		for _, fe := range FieldErrors(err) {
			c.Errorf(fe.Field, "%s", fe.Msg)
		}
		if line, dup := seen[k]; dup && err == nil {
			c.Errorf("rule", "%s is named on line %d already", DescribeKey(k), line)
		} else {
			seen[k] = c.Line()
		}
		return k
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// parseRow reads one line's cells and validates the row, recording every problem on c.
func parseRow(c *csvfile.Row, metrics Metrics) Row {
	r := Row{UserID: c.Raw("user_id"), Metric: c.Get("metric")}
	failed := map[string]bool{}
	fail := func(field, format string, args ...any) {
		failed[field] = true
		c.Errorf(field, format, args...)
	}
	scope, err := ParseScope(c.Get("scope"))
	if err != nil {
		fail("scope", "%v", err)
	}
	r.Scope = scope
	kind, ok := ParseKind(c.Get("rule"))
	if !ok {
		fail("rule", "%q is not a rule (rules: high, low, no_occupancy, anomaly, stuck, silent)", c.Get("rule"))
	}
	r.Kind = kind
	for _, n := range []struct {
		col string
		v   *threshold.Value
	}{{"warning", &r.Warning}, {"violation", &r.Violation}, {"hysteresis", &r.Hysteresis}, {"floor", &r.Floor}} {
		if v, set, ok := c.Float(n.col); !ok {
			failed[n.col] = true
		} else if set {
			*n.v = threshold.Of(v)
		}
	}
	for _, n := range []struct {
		col string
		v   *int64
	}{{"sustain_seconds", &r.SustainSeconds}, {"remind_seconds", &r.RemindSeconds}} {
		if v, ok := c.Int(n.col); !ok {
			failed[n.col] = true
		} else {
			*n.v = v
		}
	}
	if failed["rule"] {
		return r // the rest is judged by the rule: say nothing more of this line
	}
	for _, fe := range FieldErrors(r.Validate(metrics)) {
		if !failed[fe.Field] {
			c.Errorf(fe.Field, "%s", fe.Msg)
		}
	}
	return r
}

// WriteCSV writes rows as the long rules file, header first, in the order given; with a last
// column of their versions when they have any (rows a store read: ParseCSV ignores it).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	versions := slices.ContainsFunc(rows, func(r Row) bool { return r.Version != 0 })
	header := Columns
	if versions {
		header = append(slices.Clip(Columns), threshold.VersionColumn)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	secs := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	for _, r := range rows {
		line := []string{r.UserID, r.Scope.String(), r.Metric, r.Kind.String(), r.Warning.String(), r.Violation.String(),
			secs(r.SustainSeconds), r.Hysteresis.String(), secs(r.RemindSeconds), r.Floor.String()}
		if versions {
			line = append(line, strconv.FormatInt(r.Version, 10))
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
