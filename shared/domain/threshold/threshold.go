// Package threshold holds the thresholds one user set for one device, and reads and writes them
// as the CSV of DESIGN.md. Columns are matched by name, in any order; user_id and device_id are
// required, every other column is optional (empty or absent: off), so a first-edition file of
// eight columns stays valid. A file is validated whole: one bad cell refuses the whole file, and
// the error names the file, line and field.
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

	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

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

// Config is one user's thresholds for one device. Durations are whole seconds; 0 is off (and
// SustainSeconds' default).
type Config struct {
	UserID           string
	DeviceID         string
	TempWarning      Value
	TempViolation    Value
	TempLowWarning   Value
	TempLowViolation Value
	LightNoOccupancy Value
	SustainSeconds   int64

	// Second edition (DESIGN.md, "Threshold config").
	TempHysteresis  Value // °C: temperature episodes resolve only past the threshold minus (plus) this
	LightHysteresis Value // lux: the same for light_no_occupancy
	SilentSeconds   int64 // rule device_silent
	StuckSeconds    int64 // rule sensor_stuck
	TempZScore      Value // rule temperature_anomaly
	RemindSeconds   int64 // REMIND alerts for open, unacknowledged episodes

	// Version is the stored config's version: 1, then +1 each time a put changes it (0 when it
	// is not stored). Alerts carry it as config_version. It is not a CSV column.
	Version int64
}

// Same reports whether two configs set the same thresholds (versions aside).
func (c Config) Same(o Config) bool {
	c.Version, o.Version = 0, 0
	return c == o
}

// NextVersion is the version a put of c stores over prev (ok: prev exists): prev's when nothing
// changed, one more when something did, 1 for a new config.
func NextVersion(c Config, prev Config, ok bool) int64 {
	switch {
	case !ok:
		return 1
	case c.Same(prev):
		return prev.Version
	}
	return prev.Version + 1
}

// MaxDurationSeconds bounds every duration column (7 days): a longer sustain is no alarm at
// all, and the bound keeps every time computed from it far from int64 nanoseconds' limit.
const MaxDurationSeconds = 7 * 24 * 3600

// MaxUserIDLen bounds a user id (it travels as an SNS message attribute and a DynamoDB key).
const MaxUserIDLen = 128

// column is one column of the CSV: its name and where its value lives in a Config.
type column struct {
	name    string
	text    func(*Config) *string // user_id, device_id
	number  func(*Config) *Value  // thresholds: a finite number, or empty
	seconds func(*Config) *int64  // durations: a whole number of seconds, or empty
	min     int64                 // the least value of a duration that is set (0 allowed only for sustain)
}

// columns are every column, in the order files are written.
var columns = []column{
	{name: "user_id", text: func(c *Config) *string { return &c.UserID }},
	{name: "device_id", text: func(c *Config) *string { return &c.DeviceID }},
	{name: "temp_warning", number: func(c *Config) *Value { return &c.TempWarning }},
	{name: "temp_violation", number: func(c *Config) *Value { return &c.TempViolation }},
	{name: "temp_low_warning", number: func(c *Config) *Value { return &c.TempLowWarning }},
	{name: "temp_low_violation", number: func(c *Config) *Value { return &c.TempLowViolation }},
	{name: "light_no_occupancy", number: func(c *Config) *Value { return &c.LightNoOccupancy }},
	{name: "sustain_seconds", seconds: func(c *Config) *int64 { return &c.SustainSeconds }, min: 0},
	{name: "temp_hysteresis", number: func(c *Config) *Value { return &c.TempHysteresis }},
	{name: "light_hysteresis", number: func(c *Config) *Value { return &c.LightHysteresis }},
	{name: "silent_seconds", seconds: func(c *Config) *int64 { return &c.SilentSeconds }, min: 60},
	{name: "stuck_seconds", seconds: func(c *Config) *int64 { return &c.StuckSeconds }, min: 1},
	{name: "temp_zscore", number: func(c *Config) *Value { return &c.TempZScore }},
	{name: "remind_seconds", seconds: func(c *Config) *int64 { return &c.RemindSeconds }, min: 300},
}

// VersionColumn is written by WriteCSV after the thresholds, and ignored when read: the store
// decides versions (a file listed, edited and put back keeps working).
const VersionColumn = "version"

// Header is the first edition's header: eight columns, valid forever.
var Header = []string{"user_id", "device_id", "temp_warning", "temp_violation", "temp_low_warning",
	"temp_low_violation", "light_no_occupancy", "sustain_seconds"}

// AllColumns is the header of every column, in the order WriteCSV writes them.
func AllColumns() []string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = c.name
	}
	return out
}

// NumberFields and SecondsFields name the optional columns by kind, for stores that keep a
// config field by field.
func NumberFields() []string  { return namesOf(func(c column) bool { return c.number != nil }) }
func SecondsFields() []string { return namesOf(func(c column) bool { return c.seconds != nil }) }

func namesOf(keep func(column) bool) []string {
	var out []string
	for _, c := range columns {
		if keep(c) {
			out = append(out, c.name)
		}
	}
	return out
}

// Number returns the threshold named field (a NumberFields name).
func (c *Config) Number(field string) *Value {
	for _, col := range columns {
		if col.name == field && col.number != nil {
			return col.number(c)
		}
	}
	return nil
}

// Seconds returns the duration named field (a SecondsFields name).
func (c *Config) Seconds(field string) *int64 {
	for _, col := range columns {
		if col.name == field && col.seconds != nil {
			return col.seconds(c)
		}
	}
	return nil
}

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
	for _, col := range columns {
		switch {
		case col.number != nil:
			v := *col.number(c)
			if v.Set && (math.IsNaN(v.V) || math.IsInf(v.V, 0)) {
				add(col.name, "%v is not a finite number", v.V)
			}
		case col.seconds != nil:
			switch n := *col.seconds(c); {
			case n < 0:
				add(col.name, "%d is negative", n)
			case n > MaxDurationSeconds:
				add(col.name, "%d is more than %d (7 days)", n, MaxDurationSeconds)
			case n != 0 && n < col.min:
				add(col.name, "%d is less than %d", n, col.min)
			}
		}
	}
	if c.TempWarning.Set && c.TempViolation.Set && c.TempViolation.V < c.TempWarning.V {
		add("temp_violation", "%v is below temp_warning %v", c.TempViolation.V, c.TempWarning.V)
	}
	if c.TempLowWarning.Set && c.TempLowViolation.Set && c.TempLowViolation.V > c.TempLowWarning.V {
		add("temp_low_violation", "%v is above temp_low_warning %v", c.TempLowViolation.V, c.TempLowWarning.V)
	}
	for _, h := range []struct {
		name string
		v    Value
	}{{"temp_hysteresis", c.TempHysteresis}, {"light_hysteresis", c.LightHysteresis}} {
		if h.v.Set && h.v.V < 0 {
			add(h.name, "%v is negative", h.v.V)
		}
	}
	if c.TempZScore.Set && c.TempZScore.V <= 0 {
		add("temp_zscore", "%v is not above 0", c.TempZScore.V)
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

// LineError is an invalid line of a file (the readers of every CSV share it).
type LineError = csvfile.LineError

// csvColumns are the columns a thresholds file may name.
var csvColumns = csvfile.Columns{Known: AllColumns(), Required: []string{"user_id", "device_id"}, Ignored: []string{VersionColumn}}

// ParseCSV reads a whole thresholds file. Any invalid line refuses the file: the returned error
// joins one *LineError per problem (name is the file name used in messages), and no config is returned.
func ParseCSV(r io.Reader, name string) ([]Config, error) {
	seen := map[[2]string]int{}
	return csvfile.Read(r, name, csvColumns, func(row *csvfile.Row) Config {
		c := parseRow(row)
		if !row.OK() {
			return c
		}
		key := [2]string{c.UserID, c.DeviceID}
		if prev, dup := seen[key]; dup {
			row.Errorf("user_id", "user %q already has thresholds for device %q on line %d", c.UserID, c.DeviceID, prev)
		} else {
			seen[key] = row.Line()
		}
		return c
	})
}

// parseRow reads one line's cells and validates the config, recording every problem on row.
func parseRow(row *csvfile.Row) Config {
	var c Config
	failed := map[string]bool{}
	fail := func(field, format string, args ...any) {
		failed[field] = true
		row.Errorf(field, format, args...)
	}
	for _, col := range columns {
		s := row.Get(col.name)
		switch {
		case col.text != nil:
			if col.name == "user_id" {
				s = row.Raw(col.name) // a user id is checked as written: surrounding spaces are an error
			}
			*col.text(&c) = s
		case col.number != nil && s != "":
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				fail(col.name, "%q is not a finite number", s)
				continue
			}
			*col.number(&c) = Of(v)
		case col.seconds != nil && s != "":
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				fail(col.name, "%q is not a whole number of seconds", s)
				continue
			}
			if n == 0 && col.min > 0 {
				fail(col.name, "0 is less than %d (leave the cell empty to turn it off)", col.min)
				continue
			}
			*col.seconds(&c) = n
		}
	}
	// Validate too, so that one pass names every problem of the line; a field that did not parse
	// is reported once, by its parse error.
	if err := c.Validate(); err != nil {
		for _, e := range unwrap(err) {
			var fe *FieldError
			if errors.As(e, &fe) && !failed[fe.Field] {
				row.Errorf(fe.Field, "%s", fe.Msg)
			}
		}
	}
	return c
}

func unwrap(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// WriteCSV writes configs with every column's header and their versions, in the order given.
func WriteCSV(w io.Writer, configs []Config) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append(AllColumns(), VersionColumn)); err != nil {
		return err
	}
	for i := range configs {
		c := &configs[i]
		rec := make([]string, len(columns), len(columns)+1)
		for j, col := range columns {
			switch {
			case col.text != nil:
				rec[j] = *col.text(c)
			case col.number != nil:
				rec[j] = col.number(c).String()
			case col.seconds != nil:
				if n := *col.seconds(c); n != 0 || col.name == "sustain_seconds" {
					rec[j] = strconv.FormatInt(n, 10)
				}
			}
		}
		rec = append(rec, strconv.FormatInt(c.Version, 10))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
