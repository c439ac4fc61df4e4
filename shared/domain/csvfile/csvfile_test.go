package csvfile

import (
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

var cols = Columns{Known: []string{"id", "n", "note"}, Required: []string{"id"}, Ignored: []string{"version"}}

type rec struct {
	Line        int
	ID, N, Note string
	RawNote     string
}

// parse is a domain's row reader: id must be set, n (when set) a whole number.
func parse(row *Row) rec {
	r := rec{Line: row.Line(), ID: row.Get("id"), N: row.Get("n"), Note: row.Get("note"), RawNote: row.Raw("note")}
	if r.ID == "" {
		row.Errorf("id", "is empty")
	}
	if _, err := strconv.Atoi(r.N); r.N != "" && err != nil {
		row.Errorf("n", "%q is not a number", r.N)
	}
	return r
}

func le(line int, field, msg string) LineError {
	return LineError{File: "f.csv", Line: line, Field: field, Msg: msg}
}

func TestRead(t *testing.T) {
	const known = "unknown column (known: id, n, note)"
	tests := []struct {
		name, in string
		want     []rec       // the rows read, when the file is valid
		errs     []LineError // every error, in order, when it is not
	}{
		{name: "ok", in: "id,n,note\na,1,x\nb,,\n",
			want: []rec{{Line: 2, ID: "a", N: "1", Note: "x", RawNote: "x"}, {Line: 3, ID: "b"}}},
		{name: "BOM", in: "\ufeffid,n\na,1\n",
			want: []rec{{Line: 2, ID: "a", N: "1"}}},
		{name: "blank lines are skipped, lines still counted", in: "id,n\n\na,1\n   \n\t\nb,2\n\n",
			want: []rec{{Line: 3, ID: "a", N: "1"}, {Line: 6, ID: "b", N: "2"}}},
		{name: "columns by name, in any order, the optional absent", in: "note,id\nx,a\n",
			want: []rec{{Line: 2, ID: "a", Note: "x", RawNote: "x"}}},
		{name: "spaces: leading dropped, Get trims, Raw keeps the rest", in: " id , note\n  a ,  x \n",
			want: []rec{{Line: 2, ID: "a", Note: "x", RawNote: "x "}}},
		{name: "quoted cells keep their spaces for Raw", in: "id,note\na,\" x\"\n",
			want: []rec{{Line: 2, ID: "a", Note: "x", RawNote: " x"}}},
		{name: "an ignored column is accepted", in: "id,version\na,7\n",
			want: []rec{{Line: 2, ID: "a"}}},
		{name: "a record over two lines is at its first", in: "id,note\na,\"x\ny\"\nb,z\n",
			want: []rec{{Line: 2, ID: "a", Note: "x\ny", RawNote: "x\ny"}, {Line: 4, ID: "b", Note: "z", RawNote: "z"}}},
		{name: "header only", in: "id,n\n", want: nil},
		{name: "a header only of blank lines is empty", in: "\n\n",
			errs: []LineError{le(1, "", "empty file: want a header with id, e.g. id,n,note")}},

		{name: "empty file", in: "",
			errs: []LineError{le(1, "", "empty file: want a header with id, e.g. id,n,note")}},
		{name: "unknown column", in: "id,size\na,1\n",
			errs: []LineError{le(1, "size", known)}},
		{name: "missing required column", in: "n,note\n1,x\n",
			errs: []LineError{le(1, "id", "required column missing from the header")}},
		{name: "every header error at once", in: "id,id,size,\n",
			errs: []LineError{le(1, "id", "column named twice"), le(1, "size", known), le(1, "", known)}},
		{name: "every header error at once, required too", in: "n,n,size\n",
			errs: []LineError{le(1, "n", "column named twice"), le(1, "size", known), le(1, "id", "required column missing from the header")}},
		{name: "short row", in: "id,n,note\na,1\n",
			errs: []LineError{le(2, "", "has 2 fields, want 3 (id,n,note)")}},
		{name: "long row", in: "id,n\na,1,x\n",
			errs: []LineError{le(2, "", "has 3 fields, want 2 (id,n)")}},
		{name: "every error of every line", in: "id,n,note\n,x,\nb,2,ok\nc,y,\nd\n,,\n",
			errs: []LineError{
				le(2, "id", "is empty"), le(2, "n", `"x" is not a number`),
				le(4, "n", `"y" is not a number`),
				le(5, "", "has 1 fields, want 3 (id,n,note)"),
				le(6, "id", "is empty"),
			}},
		{name: "a bad quote, and reading goes on", in: "id,note\na,x\"y\nb,z\n,w\n",
			errs: []LineError{
				le(2, "", `parse error on line 2, column 4: bare " in non-quoted-field`),
				le(4, "id", "is empty"),
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tc.in), "f.csv", cols, parse)
			if tc.errs == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Read =\n%+v\nwant\n%+v", got, tc.want)
				}
				return
			}
			if got != nil {
				t.Errorf("Read = %+v with an error; want no rows", got)
			}
			if errs := lineErrors(t, err); !reflect.DeepEqual(errs, tc.errs) {
				t.Errorf("errors =\n%+v\nwant\n%+v", errs, tc.errs)
			}
		})
	}
}

// lineErrors is every *LineError that err joins (and fails if it joins anything else).
func lineErrors(t *testing.T, err error) []LineError {
	t.Helper()
	all := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	}
	var out []LineError
	for _, e := range all {
		var l *LineError
		if !errors.As(e, &l) {
			t.Fatalf("%v (%T) is not a *LineError", e, e)
		}
		out = append(out, *l)
	}
	return out
}

func TestLineErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    LineError
		want string
	}{
		{le(3, "n", `"x" is not a number`), `f.csv:3: n: "x" is not a number`},
		{le(2, "", "has 1 fields, want 3"), "f.csv:2: has 1 fields, want 3"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

func TestReadFailure(t *testing.T) {
	_, err := Read(iotest.ErrReader(errors.New("disk gone")), "f.csv", cols, parse)
	if errs := lineErrors(t, err); !reflect.DeepEqual(errs, []LineError{le(1, "", "disk gone")}) {
		t.Errorf("errors = %+v", errs)
	}
	// A failure after the header ends the reading, at the line after the last one read.
	_, err = Read(io.MultiReader(strings.NewReader("id\na\n"), iotest.ErrReader(errors.New("disk gone"))), "f.csv", cols, parse)
	if errs := lineErrors(t, err); !reflect.DeepEqual(errs, []LineError{le(3, "", "disk gone")}) {
		t.Errorf("errors = %+v", errs)
	}
}
