// Package rule is the third edition's rules (docs/DESIGN.md, "Third edition: rules on any
// metric, for devices, locations or the whole fleet"): one row is one user's rule of one kind on
// one metric, for a device, a location or the whole fleet; for a device, the most specific row
// wins per (user, metric, rule). The wide thresholds file of the earlier editions is read as the
// device rows it implies (FromConfig).
package rule

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Kind is a rule's kind: how a reading's value of the rule's metric is judged.
type Kind uint8

// The kinds, in the order a device's rules are judged.
const (
	High Kind = iota
	Low
	NoOccupancy
	Anomaly
	Stuck
	Silent
	numKinds
)

var kindNames = [numKinds]string{"high", "low", "no_occupancy", "anomaly", "stuck", "silent"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads a kind's name.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// ScopeKind says which devices a row is for.
type ScopeKind uint8

// The scopes, least specific first.
const (
	Fleet ScopeKind = iota
	Location
	Device
)

// Scope is a row's scope: `device:<id>`, `location:<name>` or `fleet`.
type Scope struct {
	Kind ScopeKind
	Name string // the device id or the location; "" for the fleet
}

func (s Scope) String() string {
	switch s.Kind {
	case Device:
		return "device:" + s.Name
	case Location:
		return "location:" + s.Name
	}
	return "fleet"
}

// MaxLocationLen bounds a location's name (it is a DynamoDB key on AWS).
const MaxLocationLen = 256

// ParseScope reads a scope.
func ParseScope(s string) (Scope, error) {
	switch {
	case s == "fleet":
		return Scope{Kind: Fleet}, nil
	case strings.HasPrefix(s, "device:"):
		id := strings.TrimPrefix(s, "device:")
		if !reading.ValidDeviceID(id) {
			return Scope{}, fmt.Errorf("device %q does not match %s", id, reading.DeviceIDPattern)
		}
		return Scope{Kind: Device, Name: id}, nil
	case strings.HasPrefix(s, "location:"):
		loc := strings.TrimPrefix(s, "location:")
		switch {
		case strings.TrimSpace(loc) == "":
			return Scope{}, errors.New("the location is empty")
		case strings.TrimSpace(loc) != loc:
			return Scope{}, fmt.Errorf("location %q has surrounding spaces", loc)
		case len(loc) > MaxLocationLen:
			return Scope{}, fmt.Errorf("the location is longer than %d bytes", MaxLocationLen)
		}
		return Scope{Kind: Location, Name: loc}, nil
	}
	return Scope{}, fmt.Errorf("%q is not device:<id>, location:<name> or fleet", s)
}

// Row is one user's rule: of one kind, on one metric ("" for silent), for one scope. An unset
// Value is an empty cell. Durations are whole seconds; 0 is off (and sustain's default).
type Row struct {
	UserID         string
	Scope          Scope
	Metric         string
	Kind           Kind
	Warning        threshold.Value // high, low: a threshold; no_occupancy: the metric's; anomaly: a z-score; stuck, silent: seconds
	Violation      threshold.Value // high and low only
	SustainSeconds int64           // high, low, no_occupancy, anomaly
	Hysteresis     threshold.Value // high, low, no_occupancy
	RemindSeconds  int64
	Floor          threshold.Value // anomaly: the standard deviation's floor (unset: DefaultFloor)
	// Version is the stored row's version (0 when not stored); alerts carry the winning row's as
	// config_version.
	Version int64
}

// Key is what makes a row unique: (user, scope, metric, kind).
type Key struct {
	UserID string
	Scope  Scope
	Metric string
	Kind   Kind
}

// Same reports whether two rows set the same rule (versions aside).
func (r Row) Same(o Row) bool {
	r.Version, o.Version = 0, 0
	return r == o
}

// Versioned gives rows the versions a store keeps over prev, what it held before: a row keeps
// its version while unchanged, takes the next when changed, 1 when new.
func Versioned(prev, rows []Row) []Row {
	held := make(map[Key]Row, len(prev))
	for _, r := range prev {
		held[r.Key()] = r
	}
	out := make([]Row, len(rows))
	for i, r := range rows {
		p, ok := held[r.Key()]
		switch {
		case !ok:
			r.Version = 1
		case r.Same(p):
			r.Version = p.Version
		default:
			r.Version = p.Version + 1
		}
		out[i] = r
	}
	return out
}

// Upsert puts rows over held: a row of a key held replaces it in place, a new one is appended
// (held is not changed). It returns the result, and the index in rows of each key put.
func Upsert(held, rows []Row) ([]Row, map[Key]int) {
	out := slices.Clip(slices.Clone(held))
	at := make(map[Key]int, len(out))
	for i, r := range out {
		at[r.Key()] = i
	}
	put := make(map[Key]int, len(rows))
	for i, r := range rows {
		put[r.Key()] = i
		if j, ok := at[r.Key()]; ok {
			out[j] = r
		} else {
			at[r.Key()] = len(out)
			out = append(out, r)
		}
	}
	return out, put
}

// Key returns the row's key.
func (r Row) Key() Key { return Key{r.UserID, r.Scope, r.Metric, r.Kind} }

// ParseKey reads a row's key from its cells (user_id, scope, metric, rule) and checks it as a
// row's: every problem is a *FieldError, joined.
func ParseKey(user, scope, metric, kind string, metrics Metrics) (Key, error) {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	k := Key{UserID: user, Metric: metric}
	if err := threshold.ValidUserID(user); err != nil {
		add("user_id", "%v", err)
	}
	sc, err := ParseScope(scope)
	if err != nil {
		add("scope", "%v", err)
	}
	k.Scope = sc
	kd, ok := ParseKind(kind)
	switch {
	case !ok:
		add("rule", "%q is not a rule (rules: high, low, no_occupancy, anomaly, stuck, silent)", kind)
	case kd == Silent && metric != "":
		add("metric", "silent is about the device, not a metric: leave it empty")
	case kd != Silent && !metrics.Known(metric):
		add("metric", "%q is neither a built-in metric nor a declared one", metric)
	}
	k.Kind = kd
	return k, errors.Join(errs...)
}

// FieldErrors are the *FieldErrors err joins (Validate's, ParseKey's).
func FieldErrors(err error) []*FieldError { return reading.FieldErrors(err) }

// DescribeKey names a row's key in messages.
func DescribeKey(k Key) string {
	metric := k.Metric
	if metric == "" {
		metric = "-"
	}
	return fmt.Sprintf("user %s, scope %s, metric %s, rule %s", k.UserID, k.Scope, metric, k.Kind)
}

// Name is the rule's name in alerts: {metric}_{kind}, but sensor_stuck for temperature's stuck
// rule and device_silent for silent (the names the earlier editions gave them).
func (r Row) Name() alert.Rule {
	switch {
	case r.Kind == Silent:
		return alert.DeviceSilent
	case r.Kind == Stuck && r.Metric == reading.Temperature.String():
		return alert.SensorStuck
	}
	for m := reading.Metric(0); m < reading.NumMetrics; m++ {
		if r.Kind < numKinds && m.String() == r.Metric {
			return builtInNames[m][r.Kind] // no string built a rule a batch
		}
	}
	return alert.Rule(r.Metric + "_" + r.Kind.String())
}

// builtInNames are the names of the rules on built-in metrics, made once.
var builtInNames = func() (out [reading.NumMetrics][numKinds]alert.Rule) {
	for m := range out {
		for k := range out[m] {
			out[m][k] = alert.Rule(reading.Metric(m).String() + "_" + Kind(k).String())
		}
	}
	return out
}()

// Metrics says which metric names a rule may name: the built-ins, and once a catalog is
// loaded, the metrics it declares.
type Metrics interface {
	Known(name string) bool
}

// BuiltIn knows the six built-in metrics only.
type BuiltIn struct{}

// Known implements Metrics.
func (BuiltIn) Known(name string) bool {
	for m := reading.Metric(0); m < reading.NumMetrics; m++ {
		if m.String() == name {
			return true
		}
	}
	return false
}

// WellFormed knows any well-formed metric name (MetricNamePattern): for reading rows a store
// holds, which were checked against the catalog when written. A row whose metric the catalog no
// longer declares is read, and never fires (its open episodes resolve as a deleted rule's do).
type WellFormed struct{}

// Known implements Metrics.
func (WellFormed) Known(name string) bool { return ValidMetricName(name) }

// DefaultFloor is the anomaly rule's floor of the standard deviation on a metric when its row
// sets none (DESIGN.md): temperature and humidity 0.1, light and CO2 1, humidity_ratio 0.0001,
// occupancy 0.01, any other metric 0.1 (a declared metric's catalog floor replaces it).
func DefaultFloor(metric string) float64 {
	switch metric {
	case "light", "co2":
		return 1
	case "humidity_ratio":
		return 0.0001
	case "occupancy":
		return 0.01
	}
	return 0.1
}

// FieldError is one invalid field of a row (the same as a declared metric's).
type FieldError = reading.FieldError

// MinSilentSeconds and MinRemindSeconds are the least values of those durations.
const (
	MinSilentSeconds = 60
	MinRemindSeconds = 300
)

// Validate checks a row against the contract; it returns every problem, each a *FieldError.
func (r *Row) Validate(metrics Metrics) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if err := threshold.ValidUserID(r.UserID); err != nil {
		add("user_id", "%v", err)
	}
	switch {
	case r.Kind == Silent && r.Metric != "":
		add("metric", "silent is about the device, not a metric: leave it empty")
	case r.Kind != Silent && r.Metric == "":
		add("metric", "is empty: %s needs a metric", r.Kind)
	case r.Kind != Silent && !metrics.Known(r.Metric):
		add("metric", "%q is neither a built-in metric nor a declared one", r.Metric)
	}
	for _, v := range []struct {
		name string
		v    threshold.Value
	}{{"warning", r.Warning}, {"violation", r.Violation}, {"hysteresis", r.Hysteresis}, {"floor", r.Floor}} {
		if v.v.Set && (math.IsNaN(v.v.V) || math.IsInf(v.v.V, 0)) {
			add(v.name, "%v is not a finite number", v.v.V)
		}
	}
	notFor := func(field string, set bool, kinds ...Kind) {
		for _, k := range kinds {
			if set && r.Kind == k {
				add(field, "does not apply to %s: leave it empty", k)
			}
		}
	}
	notFor("violation", r.Violation.Set, NoOccupancy, Anomaly, Stuck, Silent)
	notFor("sustain_seconds", r.SustainSeconds != 0, Stuck, Silent)
	notFor("hysteresis", r.Hysteresis.Set, Anomaly, Stuck, Silent)
	notFor("floor", r.Floor.Set, High, Low, NoOccupancy, Stuck, Silent)
	switch r.Kind {
	case High, Low:
		switch {
		case !r.Warning.Set && !r.Violation.Set:
			add("warning", "is empty, as is violation: set one or both")
		case r.Kind == High && r.Warning.Set && r.Violation.Set && r.Violation.V < r.Warning.V:
			add("violation", "%v is below warning %v (high: violation ≥ warning)", r.Violation.V, r.Warning.V)
		case r.Kind == Low && r.Warning.Set && r.Violation.Set && r.Violation.V > r.Warning.V:
			add("violation", "%v is above warning %v (low: violation ≤ warning)", r.Violation.V, r.Warning.V)
		}
	case NoOccupancy:
		if !r.Warning.Set {
			add("warning", "is empty: no_occupancy needs the metric's threshold")
		}
	case Anomaly:
		if !r.Warning.Set || r.Warning.V <= 0 {
			add("warning", "must be a z-score above 0")
		}
	case Stuck, Silent:
		least := int64(1)
		if r.Kind == Silent {
			least = MinSilentSeconds
		}
		if v := r.Warning; !v.Set || v.V != math.Trunc(v.V) || v.V < float64(least) || v.V > threshold.MaxDurationSeconds {
			add("warning", "must be whole seconds from %d to %d (%s)", least, threshold.MaxDurationSeconds, r.Kind)
		}
	}
	if r.Hysteresis.Set && r.Hysteresis.V < 0 {
		add("hysteresis", "%v is negative", r.Hysteresis.V)
	}
	if r.Floor.Set && r.Floor.V <= 0 {
		add("floor", "%v is not above 0", r.Floor.V)
	}
	for _, d := range []struct {
		name  string
		v     int64
		least int64
	}{{"sustain_seconds", r.SustainSeconds, 0}, {"remind_seconds", r.RemindSeconds, MinRemindSeconds}} {
		switch {
		case d.v < 0:
			add(d.name, "%d is negative", d.v)
		case d.v > threshold.MaxDurationSeconds:
			add(d.name, "%d is more than %d (7 days)", d.v, threshold.MaxDurationSeconds)
		case d.v != 0 && d.v < d.least:
			add(d.name, "%d is less than %d", d.v, d.least)
		}
	}
	return errors.Join(errs...)
}

// The limits on a set of rows (a file, or what a table holds), so that a device's rules in force
// and its alarm state stay small: a state item under DynamoDB's 400 KB, its writes a few units.
const (
	MaxRowsPerUser  = 500  // every scope of one user
	MaxRowsPerScope = 2000 // every user of one scope (a location's or the fleet's item set, read at once)
)

// FromConfig returns the device rows a wide thresholds config means (DESIGN.md): its
// temperature high and low, light no_occupancy, temperature anomaly and stuck, and silent rules,
// each carrying the config's sustain (where it applies), hysteresis, reminders and version.
func FromConfig(c threshold.Config) []Row {
	var out []Row
	EachRow(c, func(r Row) { out = append(out, r) })
	return out
}

// EachRow calls add with each of FromConfig's rows, in order, making no slice.
func EachRow(c threshold.Config, add func(Row)) {
	base := Row{UserID: c.UserID, Scope: Scope{Kind: Device, Name: c.DeviceID}, RemindSeconds: c.RemindSeconds, Version: c.Version}
	temp, light := reading.Temperature.String(), reading.Light.String()
	if c.TempWarning.Set || c.TempViolation.Set {
		r := base
		r.Metric, r.Kind, r.Warning, r.Violation, r.SustainSeconds, r.Hysteresis = temp, High, c.TempWarning, c.TempViolation, c.SustainSeconds, c.TempHysteresis
		add(r)
	}
	if c.TempLowWarning.Set || c.TempLowViolation.Set {
		r := base
		r.Metric, r.Kind, r.Warning, r.Violation, r.SustainSeconds, r.Hysteresis = temp, Low, c.TempLowWarning, c.TempLowViolation, c.SustainSeconds, c.TempHysteresis
		add(r)
	}
	if c.LightNoOccupancy.Set {
		r := base
		r.Metric, r.Kind, r.Warning, r.SustainSeconds, r.Hysteresis = light, NoOccupancy, c.LightNoOccupancy, c.SustainSeconds, c.LightHysteresis
		add(r)
	}
	if c.TempZScore.Set {
		r := base
		r.Metric, r.Kind, r.Warning, r.SustainSeconds = temp, Anomaly, c.TempZScore, c.SustainSeconds
		add(r)
	}
	if c.StuckSeconds > 0 {
		r := base
		r.Metric, r.Kind, r.Warning = temp, Stuck, threshold.Of(float64(c.StuckSeconds))
		add(r)
	}
	if c.SilentSeconds > 0 {
		r := base
		r.Kind, r.Warning = Silent, threshold.Of(float64(c.SilentSeconds))
		add(r)
	}
}

// FromConfigs is FromConfig of each config, in order.
func FromConfigs(cs []threshold.Config) []Row {
	var out []Row
	for _, c := range cs {
		out = append(out, FromConfig(c)...)
	}
	return out
}

// Check refuses a set of rows that breaks the set's rules: a (user, scope, metric, rule) twice,
// more than MaxRowsPerUser rows of a user or MaxRowsPerScope of a scope. line(i) names row i in
// errors (its file line, say).
func Check(rows []Row, line func(i int) string) error {
	var errs []error
	first := map[Key]int{}
	perUser, perScope := map[string]int{}, map[Scope]int{}
	for i, r := range rows {
		if j, dup := first[r.Key()]; dup {
			errs = append(errs, fmt.Errorf("%s: user_id: %s already has a %s rule on %q for %s on %s", line(i), r.UserID, r.Kind, r.Metric, r.Scope, line(j)))
			continue
		}
		first[r.Key()] = i
		if perUser[r.UserID]++; perUser[r.UserID] == MaxRowsPerUser+1 {
			errs = append(errs, fmt.Errorf("%s: user_id: %s has more than %d rules", line(i), r.UserID, MaxRowsPerUser))
		}
		if perScope[r.Scope]++; perScope[r.Scope] == MaxRowsPerScope+1 {
			errs = append(errs, fmt.Errorf("%s: scope: %s has more than %d rules", line(i), r.Scope, MaxRowsPerScope))
		}
	}
	return errors.Join(errs...)
}

// InForce is a rule in force for a device: the winning row, and the rows it won over.
type InForce struct {
	Row
	Over []Row // less specific rows of the same (user, metric, rule), most specific first
}

// Resolve returns the rules in force for device d among rows: for each (user, metric, kind),
// the row of d's device scope, else of its location's, else the fleet's. They come ordered by
// user, then metric, then kind: the order a device's rules are judged (and its alerts emitted).
func Resolve(rows []Row, d device.Device) []InForce {
	out := make([]InForce, 0, len(rows))
	var at map[Key]int // past scanSlots rules: the slots by key (its scope left zero)
	for _, r := range rows {
		if !Applies(r.Scope, d) {
			continue
		}
		i := -1
		if at != nil {
			if j, ok := at[Key{UserID: r.UserID, Metric: r.Metric, Kind: r.Kind}]; ok {
				i = j
			}
		} else {
			i = slotOf(out, &r)
		}
		if i < 0 {
			out = append(out, InForce{Row: r})
			switch {
			case at != nil:
				at[Key{UserID: r.UserID, Metric: r.Metric, Kind: r.Kind}] = len(out) - 1
			case len(out) == scanSlots:
				at = make(map[Key]int, len(rows))
				for j := range out {
					at[Key{UserID: out[j].UserID, Metric: out[j].Metric, Kind: out[j].Kind}] = j
				}
			}
			continue
		}
		cur := &out[i]
		if r.Scope.Kind > cur.Scope.Kind {
			cur.Over = append([]Row{cur.Row}, cur.Over...)
			cur.Row = r
		} else {
			cur.Over = append(cur.Over, r)
		}
	}
	for i := range out {
		if len(out[i].Over) > 1 {
			sortBySpecificity(out[i].Over)
		}
	}
	sortInForce(out)
	return out
}

// scanSlots is how many rules Resolve finds by a scan (slotOf) before it keeps a map: a device
// has tens of rules, for which the scan costs less than a map; the limits allow thousands.
const scanSlots = 64

// slotOf is the index in out of the rule of r's (user, metric, kind), or -1.
func slotOf(out []InForce, r *Row) int {
	for i := range out {
		if o := &out[i]; o.Kind == r.Kind && o.Metric == r.Metric && o.UserID == r.UserID {
			return i
		}
	}
	return -1
}

// Applies reports whether a row of scope s is for device d (its id, its location, or the fleet).
func Applies(s Scope, d device.Device) bool {
	switch s.Kind {
	case Device:
		return s.Name == d.ID
	case Location:
		return d.Location != "" && s.Name == d.Location
	}
	return true
}

// sortBySpecificity orders rows most specific scope first.
func sortBySpecificity(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scope.Kind > rows[j].Scope.Kind })
}

// sortInForce orders rules by user (in the order users first appear), then kind, then metric:
// the order the earlier editions judged a config's rules in (temperature high, low, light
// no_occupancy, anomaly, stuck), so that a wide file and its rows emit the same alerts in the
// same order.
func sortInForce(rules []InForce) {
	type key struct {
		user   int
		kind   Kind
		metric string
		i      int
	}
	var users []string       // in the order they first appear: few, found by a scan
	var ranks map[string]int // past scanSlots users (a scope may have thousands)
	rank := func(u string) int {
		if ranks != nil {
			r, ok := ranks[u]
			if !ok {
				r = len(ranks)
				ranks[u] = r
			}
			return r
		}
		for i, v := range users {
			if v == u {
				return i
			}
		}
		users = append(users, u)
		if len(users) == scanSlots {
			ranks = make(map[string]int, len(rules))
			for i, v := range users {
				ranks[v] = i
			}
		}
		return len(users) - 1
	}
	var room [32]key // a device's tens of rules sorted without an allocation
	keys := room[:0]
	for i := range rules {
		keys = append(keys, key{rank(rules[i].UserID), rules[i].Kind, rules[i].Metric, i})
	}
	slices.SortFunc(keys, func(a, b key) int { // i last: stable
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.kind, b.kind), strings.Compare(a.metric, b.metric), cmp.Compare(a.i, b.i))
	})
	// Put rules[keys[i].i] at i, following each cycle of the permutation: no copy of the rules.
	for i := range keys {
		if keys[i].i == i || keys[i].i < 0 {
			continue
		}
		tmp, j := rules[i], i
		for {
			from := keys[j].i
			keys[j].i = -1
			if from == i {
				rules[j] = tmp
				break
			}
			rules[j] = rules[from]
			j = from
		}
	}
}

// MetricNamePattern is what a metric's name looks like (a built-in's, or a declared one's).
const MetricNamePattern = `^[a-z][a-z0-9_]{0,31}$`

// ValidMetricName reports whether name matches MetricNamePattern.
func ValidMetricName(name string) bool {
	if name == "" || len(name) > 32 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseName reads a rule's name in alerts back into its metric and kind: device_silent,
// sensor_stuck (temperature's stuck), or {metric}_{kind} for any well-formed metric name.
func ParseName(name alert.Rule) (metric string, kind Kind, ok bool) {
	switch name {
	case alert.DeviceSilent:
		return "", Silent, true
	case alert.SensorStuck:
		return reading.Temperature.String(), Stuck, true
	}
	for k := High; k < Silent; k++ {
		m, found := strings.CutSuffix(string(name), "_"+k.String())
		if !found || !ValidMetricName(m) {
			continue
		}
		if k == Stuck && m == reading.Temperature.String() {
			return "", 0, false // temperature's is sensor_stuck
		}
		return m, k, true
	}
	return "", 0, false
}
