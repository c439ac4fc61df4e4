// Package threshold holds the thresholds one user set for one device, and reads and writes them
// as the CSV of DESIGN.md. A file is validated whole: one bad cell refuses the whole file, and the
// error names the file, line and field.
package threshold

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Header is the CSV header of a thresholds file, in this exact order.
var Header = []string{"user_id", "device_id", "temp_warning", "temp_violation", "temp_low_warning",
	"temp_low_violation", "light_no_occupancy", "sustain_seconds"}

// Value is a threshold that may be unset (an empty CSV cell).
type Value struct {
	V   float64
	Set bool
}

// Of returns a set Value.
func Of(v float64) Value { return Value{V: v, Set: true} }

func (v Value) String() string {
	if !v.Set {
		return ""
	}
	return strconv.FormatFloat(v.V, 'f', -1, 64)
}

// Config is one user's thresholds for one device.
type Config struct {
	UserID           string
	DeviceID         string
	TempWarning      Value
	TempViolation    Value
	TempLowWarning   Value
	TempLowViolation Value
	LightNoOccupancy Value
	SustainSeconds   int64
}

// MaxDurationSeconds bounds every duration column (7 days): a longer sustain is no alarm at
// all, and the bound keeps every time computed from it far from int64 nanoseconds' limit.
const MaxDurationSeconds = 7 * 24 * 3600

// MaxUserIDLen bounds a user id (it travels as an SNS message attribute and a DynamoDB key).
const MaxUserIDLen = 128

// FieldError is one invalid field of a config.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks a config against the contract; it returns every problem found, each a *FieldError.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if err := ValidUserID(c.UserID); err != nil {
		add("user_id", "%v", err)
	}
	if !reading.ValidDeviceID(c.DeviceID) {
		add("device_id", "%q does not match %s", c.DeviceID, reading.DeviceIDPattern)
	}
	for _, f := range []struct {
		name string
		v    Value
	}{{"temp_warning", c.TempWarning}, {"temp_violation", c.TempViolation}, {"temp_low_warning", c.TempLowWarning},
		{"temp_low_violation", c.TempLowViolation}, {"light_no_occupancy", c.LightNoOccupancy}} {
		if f.v.Set && (math.IsNaN(f.v.V) || math.IsInf(f.v.V, 0)) {
			add(f.name, "%v is not a finite number", f.v.V)
		}
	}
	if c.TempWarning.Set && c.TempViolation.Set && c.TempViolation.V < c.TempWarning.V {
		add("temp_violation", "%v is below temp_warning %v", c.TempViolation.V, c.TempWarning.V)
	}
	if c.TempLowWarning.Set && c.TempLowViolation.Set && c.TempLowViolation.V > c.TempLowWarning.V {
		add("temp_low_violation", "%v is above temp_low_warning %v", c.TempLowViolation.V, c.TempLowWarning.V)
	}
	if c.SustainSeconds < 0 {
		add("sustain_seconds", "%d is negative", c.SustainSeconds)
	} else if c.SustainSeconds > MaxDurationSeconds {
		add("sustain_seconds", "%d is more than %d (7 days)", c.SustainSeconds, MaxDurationSeconds)
	}
	return errors.Join(errs...)
}

// ValidUserID checks a user id: 1 to 128 characters, no control characters or surrounding spaces.
func ValidUserID(id string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len([]rune(id)) > MaxUserIDLen:
		return fmt.Errorf("is longer than %d characters", MaxUserIDLen)
	case strings.TrimSpace(id) != id:
		return fmt.Errorf("%q has surrounding spaces", id)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("%q has a control character", id)
	}
	return nil
}

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

// ParseCSV reads a whole thresholds file. Any invalid line refuses the file: the returned error
// joins one *LineError per problem (name is the file name used in messages), and no config is returned.
func ParseCSV(r io.Reader, name string) ([]Config, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &LineError{File: name, Line: 1, Msg: "empty file: want the header " + strings.Join(Header, ",")}
	}
	if err != nil {
		return nil, &LineError{File: name, Line: 1, Msg: err.Error()}
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	if strings.Join(header, ",") != strings.Join(Header, ",") {
		return nil, &LineError{File: name, Line: 1, Msg: fmt.Sprintf("header is %q, want %q", strings.Join(header, ","), strings.Join(Header, ","))}
	}
	var out []Config
	var errs []error
	seen := map[[2]string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			errs = append(errs, &LineError{File: name, Line: line, Msg: err.Error()})
			if pe == nil {
				break
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(Header) {
			errs = append(errs, &LineError{File: name, Line: line, Msg: fmt.Sprintf("has %d fields, want %d (%s)", len(rec), len(Header), strings.Join(Header, ","))})
			continue
		}
		c, lineErrs := parseRecord(rec)
		for _, fe := range lineErrs {
			errs = append(errs, &LineError{File: name, Line: line, Field: fe.Field, Msg: fe.Msg})
		}
		if len(lineErrs) > 0 {
			continue
		}
		key := [2]string{c.UserID, c.DeviceID}
		if prev, dup := seen[key]; dup {
			errs = append(errs, &LineError{File: name, Line: line, Field: "user_id", Msg: fmt.Sprintf("user %q already has thresholds for device %q on line %d", c.UserID, c.DeviceID, prev)})
			continue
		}
		seen[key] = line
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parseRecord(rec []string) (Config, []*FieldError) {
	var errs []*FieldError
	num := func(i int) Value {
		s := strings.TrimSpace(rec[i])
		if s == "" {
			return Value{}
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, &FieldError{Field: Header[i], Msg: fmt.Sprintf("%q is not a finite number", s)})
			return Value{}
		}
		return Of(v)
	}
	c := Config{
		UserID:           rec[0],
		DeviceID:         strings.TrimSpace(rec[1]),
		TempWarning:      num(2),
		TempViolation:    num(3),
		TempLowWarning:   num(4),
		TempLowViolation: num(5),
		LightNoOccupancy: num(6),
	}
	if s := strings.TrimSpace(rec[7]); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, &FieldError{Field: "sustain_seconds", Msg: fmt.Sprintf("%q is not a whole number of seconds", s)})
		}
		c.SustainSeconds = n
	}
	// Validate too, so that one pass names every problem of the line; a field that did not parse
	// is reported once, by its parse error.
	failed := map[string]bool{}
	for _, e := range errs {
		failed[e.Field] = true
	}
	if err := c.Validate(); err != nil {
		for _, e := range unwrap(err) {
			var fe *FieldError
			if errors.As(e, &fe) && !failed[fe.Field] {
				errs = append(errs, fe)
			}
		}
	}
	return c, errs
}

func unwrap(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// WriteCSV writes configs with the header, in the order given.
func WriteCSV(w io.Writer, configs []Config) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, c := range configs {
		rec := []string{c.UserID, c.DeviceID, c.TempWarning.String(), c.TempViolation.String(), c.TempLowWarning.String(),
			c.TempLowViolation.String(), c.LightNoOccupancy.String(), strconv.FormatInt(c.SustainSeconds, 10)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
