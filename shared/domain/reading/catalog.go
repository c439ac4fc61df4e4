package reading

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
)

// Declared is a metric the catalog declares beyond the six built-ins (DESIGN.md, "Metrics
// catalog"): a reading may carry it as a top-level number within [Min, Max].
type Declared struct {
	Name     string
	Unit     string  // as texts print it after a value ("µg/m³", "W"); may be empty
	Min, Max float64 // the valid range, inclusive
	// Floor is the anomaly rule's floor of the standard deviation on this metric when the rule
	// sets none (0: DefaultDeclaredFloor).
	Floor float64
}

// DefaultDeclaredFloor is a declared metric's anomaly floor when its catalog line sets none.
const DefaultDeclaredFloor = 0.1

// MaxDeclared is the most metrics a catalog declares. A reading keeps which metrics it carries
// in one 64-bit word, and the alarm core keeps per-metric slots for each: 32 is room for what a
// building measures (particulates, VOCs, pressure, supply and return air, power, energy, noise)
// several times over.
const MaxDeclared = 32

// MaxMetrics bounds the Metric values of any catalog: the built-ins, then the declared ones.
const MaxMetrics = int(NumMetrics) + MaxDeclared

// MaxUnitLen bounds a unit's length, in characters.
const MaxUnitLen = 16

// CatalogHeader is the CSV header of a metrics file.
var CatalogHeader = []string{"name", "unit", "min", "max", "floor"}

// metricNamePattern is what a declared metric's name must match (the contract's).
var metricNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ownFields are a reading's fields that are not metrics: no metric may take their names.
var ownFields = []string{"device_id", "event_time", "msg_id", "readings"}

// Catalog is the set of metrics a reading may carry: the built-ins and the declared ones. Its
// declared metrics are the Metric values NumMetrics, NumMetrics+1, … in catalog order. A nil
// *Catalog holds the built-ins only; a Catalog is never changed once made (share it freely).
type Catalog struct {
	declared []Declared
	index    map[string]Metric
	// byLen lists the declared metrics by their name's length, for the decoder: a reading's
	// field finds its declared metric by a comparison with the one or two names of its length,
	// where a map lookup hashed every field name (a metric's name is at most maxNameLen bytes).
	byLen [maxNameLen + 1][]Metric
	// bounds are the declared metrics' ranges, [min, max] (Declared's, without its strings).
	bounds [][2]float64
}

// maxNameLen is the longest a declared metric's name may be, in bytes (metricNamePattern).
const maxNameLen = 32

// FieldError is a problem with one field of a declared metric (or of a rule's row: rule.FieldError).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Check validates one declared metric alone (its name, unit, range and floor); every problem is a
// *FieldError in the joined error.
func (d Declared) Check() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case !metricNamePattern.MatchString(d.Name):
		add("name", "%q does not match %s", d.Name, metricNamePattern)
	case Builtin(d.Name):
		add("name", "%q is a built-in metric: it needs no declaring", d.Name)
	case ownField(d.Name):
		add("name", "%q is a reading's own field, not a metric", d.Name)
	case d.Name == "sensor":
		// its stuck rule would be sensor_stuck, the name temperature's stuck rule has kept since
		// the first edition: two rules would share one name (and one alarm state)
		add("name", `"sensor" is reserved: its stuck rule would be named sensor_stuck, temperature's`)
	}
	if n := utf8.RuneCountInString(d.Unit); n > MaxUnitLen || !utf8.ValidString(d.Unit) {
		add("unit", "longer than %d characters", MaxUnitLen)
	}
	finite := true
	for _, b := range []struct {
		field string
		v     float64
	}{{"min", d.Min}, {"max", d.Max}} {
		if math.IsNaN(b.v) || math.IsInf(b.v, 0) {
			add(b.field, "%v is not a finite number", b.v)
			finite = false
		}
	}
	if finite && d.Min > d.Max {
		add("max", "%g is below min %g", d.Max, d.Min)
	}
	if math.IsNaN(d.Floor) || math.IsInf(d.Floor, 0) || d.Floor < 0 {
		add("floor", "%v is not a positive finite number", d.Floor)
	}
	return errors.Join(errs...)
}

// WithDefaults is d with what its line may leave empty filled in: the floor.
func (d Declared) WithDefaults() Declared {
	if d.Floor == 0 {
		d.Floor = DefaultDeclaredFloor
	}
	return d
}

// FieldErrors are the *FieldError of an error Check returned (joined, or one alone).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			var fe *FieldError
			if errors.As(e, &fe) {
				out = append(out, fe)
			}
		}
	}
	var fe *FieldError
	if len(out) == 0 && errors.As(err, &fe) {
		out = append(out, fe)
	}
	return out
}

// Builtin reports whether name is one of the six built-in metrics.
func Builtin(name string) bool {
	_, ok := builtinMetric(name)
	return ok
}

func builtinMetric(name string) (Metric, bool) {
	for m := Metric(0); m < NumMetrics; m++ {
		if metricNames[m] == name {
			return m, true
		}
	}
	return 0, false
}

func ownField(name string) bool {
	for _, f := range ownFields {
		if f == name {
			return true
		}
	}
	return false
}

// NewCatalog makes the catalog of declared metrics ds (in that order), or refuses it whole: a
// declared metric that fails Check, a name declared twice, more than MaxDeclared. A problem of one
// metric is a *MetricError naming it.
func NewCatalog(ds []Declared) (*Catalog, error) {
	var errs []error
	c := &Catalog{declared: make([]Declared, len(ds)), index: make(map[string]Metric, len(ds))}
	for i, d := range ds {
		if err := d.Check(); err != nil {
			errs = append(errs, &MetricError{Index: i, Name: d.Name, Err: err})
			continue
		}
		if _, dup := c.index[d.Name]; dup {
			errs = append(errs, &MetricError{Index: i, Name: d.Name, Err: &FieldError{Field: "name", Msg: fmt.Sprintf("%q is declared twice", d.Name)}})
			continue
		}
		c.declared[i] = d.WithDefaults()
		c.index[d.Name] = NumMetrics + Metric(i)
		c.byLen[len(d.Name)] = append(c.byLen[len(d.Name)], NumMetrics+Metric(i))
	}
	if len(ds) > MaxDeclared {
		errs = append(errs, fmt.Errorf("%d metrics declared: a catalog declares at most %d", len(ds), MaxDeclared))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.bounds = make([][2]float64, len(c.declared))
	for i, d := range c.declared {
		c.bounds[i] = [2]float64{d.Min, d.Max}
	}
	return c, nil
}

// field is the declared metric a reading's field named k carries (false: none). It is the
// decoder's Lookup of a declared metric, for every field of every message beside the contract's
// own: no hashing, and no comparison at all for a name whose length no declared metric has.
func (c *Catalog) field(k string) (Metric, bool) {
	if len(k) > maxNameLen {
		return 0, false
	}
	for _, m := range c.byLen[len(k)] {
		if c.declared[m-NumMetrics].Name == k {
			return m, true
		}
	}
	return 0, false
}

// MetricError is a problem with the declared metric at Index (0-based) of a catalog.
type MetricError struct {
	Index int
	Name  string
	Err   error // joined *FieldError
}

func (e *MetricError) Error() string { return fmt.Sprintf("metric %q: %v", e.Name, e.Err) }
func (e *MetricError) Unwrap() error { return e.Err }

// ParseCatalog reads a whole metrics file (name,unit,min,max,floor; columns matched by name, in
// any order; name, min and max required). Any invalid line refuses the file: the error joins one
// *csvfile.LineError per problem, naming file, line and field, and no catalog is returned.
func ParseCatalog(r io.Reader, name string) (*Catalog, error) {
	lines := map[string]int{}
	var count int
	ds, err := csvfile.Read(r, name, csvfile.Columns{Known: CatalogHeader, Required: []string{"name", "min", "max"}}, func(row *csvfile.Row) Declared {
		d := Declared{Name: row.Get("name"), Unit: row.Get("unit")}
		var okMin, okMax, okFloor, set bool
		d.Min, set, okMin = row.Float("min")
		if okMin && !set {
			row.Errorf("min", "is empty")
		}
		d.Max, set, okMax = row.Float("max")
		if okMax && !set {
			row.Errorf("max", "is empty")
		}
		var floorSet bool
		d.Floor, floorSet, okFloor = row.Float("floor")
		if okFloor && floorSet && d.Floor == 0 {
			row.Errorf("floor", "0 is not above 0 (leave it empty for the default %g)", DefaultDeclaredFloor)
			okFloor = false
		}
		if okMin && okMax && okFloor {
			for _, fe := range FieldErrors(d.Check()) {
				row.Errorf(fe.Field, "%s", fe.Msg)
			}
		}
		if prev, dup := lines[d.Name]; dup {
			row.Errorf("name", "%q is already declared on line %d", d.Name, prev)
		} else {
			lines[d.Name] = row.Line()
		}
		if count++; count == MaxDeclared+1 {
			row.Errorf("", "more than %d metrics: a catalog declares at most %d", MaxDeclared, MaxDeclared)
		}
		return d
	})
	if err != nil {
		return nil, err
	}
	return NewCatalog(ds)
}

// WriteCatalog writes declared metrics as a metrics file (ParseCatalog reads it back).
func WriteCatalog(w io.Writer, ds []Declared) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CatalogHeader); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, d := range ds {
		if err := cw.Write([]string{d.Name, d.Unit, num(d.Min), num(d.Max), num(d.Floor)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// UpsertDeclared is held with ds put over it: a metric of the same name replaced in place, a new
// one appended (with its defaults: WithDefaults), as a put of the table or of a metrics file does.
func UpsertDeclared(held, ds []Declared) []Declared {
	out := append([]Declared(nil), held...)
	at := make(map[string]int, len(out))
	for i, d := range out {
		at[d.Name] = i
	}
	for _, d := range ds {
		d = d.WithDefaults()
		if i, ok := at[d.Name]; ok {
			out[i] = d
			continue
		}
		at[d.Name] = len(out)
		out = append(out, d)
	}
	return out
}

// Declared returns the declared metrics, in catalog order (a copy).
func (c *Catalog) Declared() []Declared {
	if c == nil {
		return nil
	}
	return append([]Declared(nil), c.declared...)
}

// Len is the number of declared metrics.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.declared)
}

// Lookup is the Metric of name: a built-in or a declared metric.
func (c *Catalog) Lookup(name string) (Metric, bool) {
	if m, ok := builtinMetric(name); ok {
		return m, true
	}
	if c == nil {
		return 0, false
	}
	m, ok := c.index[name]
	return m, ok
}

// Known reports whether name is a built-in or declared metric (rule.Metrics).
func (c *Catalog) Known(name string) bool {
	_, ok := c.Lookup(name)
	return ok
}

// Name is the name of metric m (a built-in's, or the declared metric's).
func (c *Catalog) Name(m Metric) string {
	if d, ok := c.declaredAt(m); ok {
		return d.Name
	}
	return m.String()
}

// Get is the declaration of the declared metric named name.
func (c *Catalog) Get(name string) (Declared, bool) {
	if c == nil {
		return Declared{}, false
	}
	m, ok := c.index[name]
	if !ok {
		return Declared{}, false
	}
	return c.declared[m-NumMetrics], true
}

func (c *Catalog) declaredAt(m Metric) (Declared, bool) {
	if c == nil || m < NumMetrics || int(m-NumMetrics) >= len(c.declared) {
		return Declared{}, false
	}
	return c.declared[m-NumMetrics], true
}

// names lists the metrics a reading may carry, for messages: "temperature, …, occupancy" and the
// declared ones.
func (c *Catalog) names() string {
	out := strings.Join(metricNames[:], ", ")
	for _, d := range c.Declared() {
		out += ", " + d.Name
	}
	return out
}

// Unit is how texts print metric name's unit: a built-in's (BuiltinUnit), a declared metric's
// from the catalog, "" for one the catalog does not know.
func (c *Catalog) Unit(name string) string {
	if m, ok := builtinMetric(name); ok {
		return builtinUnits[m]
	}
	d, _ := c.Get(name)
	return d.Unit
}

// builtinUnits are the built-in metrics' units (humidity_ratio is kg of water per kg of dry air).
var builtinUnits = [NumMetrics]string{"°C", "%", "lux", "ppm", "kg/kg", ""}

// Range is the valid range of metric m, inclusive.
func (c *Catalog) Range(m Metric) (lo, hi float64) {
	if m < NumMetrics {
		return metricRange[m][0], metricRange[m][1]
	}
	if c == nil || int(m-NumMetrics) >= len(c.bounds) {
		return 0, 0
	}
	b := &c.bounds[m-NumMetrics]
	return b[0], b[1]
}
