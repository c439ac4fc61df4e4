// Package csvfile reads the project's CSV files (thresholds, devices, users) one way: a header
// whose columns are matched by name, in any order; a file validated whole, every problem of every
// line collected and named by file, line and field; and any problem refusing the whole file. Each
// domain keeps only the reading of one row.
package csvfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// LineError is an invalid line of a file.
type LineError struct {
	File  string
	Line  int
	Field string // "" when the whole line is wrong
	Msg   string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// Columns are the columns a file's header may name.
type Columns struct {
	Known    []string // every column read, in the order messages list them
	Required []string // the columns of Known a header must name
	Ignored  []string // names a header may have that are not read (and not listed as known)
}

// Row is one line of a file being read: its cells by column name, and the problems found in it.
type Row struct {
	file   string
	line   int
	index  map[string]int
	rec    []string
	errs   *[]error
	failed bool
}

// Line is the row's line in the file (where the record starts).
func (r *Row) Line() int { return r.line }

// Raw is the cell of column col as read (leading spaces aside, which the reader drops unless
// quoted); "" when the header does not name col.
func (r *Row) Raw(col string) string {
	if i, ok := r.index[col]; ok {
		return r.rec[i]
	}
	return ""
}

// Get is the cell of column col, trimmed; "" when the header does not name col.
func (r *Row) Get(col string) string { return strings.TrimSpace(r.Raw(col)) }

// Errorf records a problem of the row's field ("" for the whole line): the row is not kept,
// and the file is refused.
func (r *Row) Errorf(field, format string, args ...any) {
	*r.errs = append(*r.errs, &LineError{File: r.file, Line: r.line, Field: field, Msg: fmt.Sprintf(format, args...)})
	r.failed = true
}

// OK reports whether no problem of the row has been recorded (yet).
func (r *Row) OK() bool { return !r.failed }

// Read reads a whole file (name is the file name used in messages): an optional byte-order mark,
// a header matched against cols, then one row a line, blank lines skipped, each given to parse.
// Any problem refuses the file: the error joins one *LineError per problem of the header, or of
// every line (unreadable, the wrong number of fields, or recorded by parse with Row.Errorf), and
// no row is returned.
func Read[T any](r io.Reader, name string, cols Columns, parse func(*Row) T) ([]T, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		want := "a header"
		if len(cols.Required) > 0 {
			want += " with " + strings.Join(cols.Required, ", ")
		}
		return nil, &LineError{File: name, Line: 1, Msg: "empty file: want " + want + ", e.g. " + strings.Join(cols.Known, ",")}
	}
	if err != nil {
		return nil, &LineError{File: name, Line: 1, Msg: err.Error()}
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	index, err := cols.index(header, name)
	if err != nil {
		return nil, err
	}
	var out []T
	var errs []error
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) { // the reader failed: nothing more to read
				errs = append(errs, &LineError{File: name, Line: line + 1, Msg: err.Error()})
				break
			}
			line = pe.Line
			errs = append(errs, &LineError{File: name, Line: pe.Line, Msg: err.Error()})
			continue
		}
		line, _ = cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			errs = append(errs, &LineError{File: name, Line: line, Msg: fmt.Sprintf("has %d fields, want %d (%s)", len(rec), len(header), strings.Join(header, ","))})
			continue
		}
		row := &Row{file: name, line: line, index: index, rec: rec, errs: &errs}
		v := parse(row)
		if row.OK() {
			out = append(out, v)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// index matches a header's names to columns: each known (or ignored) once, the required all there.
func (c Columns) index(header []string, name string) (map[string]int, error) {
	var errs []error
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		_, named := index[h]
		switch {
		case !slices.Contains(c.Known, h) && !slices.Contains(c.Ignored, h):
			errs = append(errs, &LineError{File: name, Line: 1, Field: h, Msg: "unknown column (known: " + strings.Join(c.Known, ", ") + ")"})
		case named:
			errs = append(errs, &LineError{File: name, Line: 1, Field: h, Msg: "column named twice"})
		default:
			index[h] = i
		}
	}
	for _, req := range c.Required {
		if _, ok := index[req]; !ok {
			errs = append(errs, &LineError{File: name, Line: 1, Field: req, Msg: "required column missing from the header"})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return index, nil
}

// Float is the number in column col: set is false for an empty cell; ok is false (and the
// problem recorded) when the cell is not a finite number.
func (r *Row) Float(col string) (v float64, set, ok bool) {
	s := r.Get(col)
	if s == "" {
		return 0, false, true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		r.Errorf(col, "%q is not a finite number", s)
		return 0, false, false
	}
	return v, true, true
}

// Int is the whole number in column col (0 for an empty cell); ok is false (and the problem
// recorded) when the cell is not one.
func (r *Row) Int(col string) (v int64, ok bool) {
	s := r.Get(col)
	if s == "" {
		return 0, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.Errorf(col, "%q is not a whole number", s)
		return 0, false
	}
	return v, true
}
