// Package alarm is the alarm state machine of DESIGN.md ("Rules and levels", "Alarm state"): it
// applies a device's readings in arrival order to the state of every (user, rule) in force for
// that device and emits OPEN, ESCALATE, REMIND and RESOLVE alerts. The rules are the third
// edition's rows (shared/domain/rule), of any kind on any built-in metric; a wide thresholds
// config is judged as the device rows it means. It knows nothing of AWS or of storage.
package alarm

import (
	"fmt"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Level is the level of one reading for one rule.
type Level uint8

// Levels, ordered: a higher level is more severe.
const (
	OK Level = iota
	Warning
	Violation
)

func (l Level) String() string {
	switch l {
	case OK:
		return "OK"
	case Warning, Violation:
		return string(l.Severity())
	}
	return fmt.Sprintf("level(%d)", l)
}

// Severity is the alert severity of a level above OK.
func (l Level) Severity() alert.Severity {
	if l == Violation {
		return alert.Violation
	}
	return alert.Warning
}

// Rule is a rule's name as alerts spell it: {metric}_{kind}, sensor_stuck or device_silent.
type Rule = alert.Rule

// The rules of the earlier editions, by their names.
const (
	TemperatureHigh    = alert.TemperatureHigh
	TemperatureLow     = alert.TemperatureLow
	LightNoOccupancy   = alert.LightNoOccupancy
	TemperatureAnomaly = alert.TemperatureAnomaly
	SensorStuck        = alert.SensorStuck
	DeviceSilent       = alert.DeviceSilent
)

// BuiltInRules are the earlier editions' rules, in the order a config's rules were judged.
var BuiltInRules = []Rule{TemperatureHigh, TemperatureLow, LightNoOccupancy, TemperatureAnomaly, SensorStuck, DeviceSilent}

// ParseRule reads a rule's name as alerts spell it (rule.ParseName: any kind on any well-formed
// metric name).
func ParseRule(name string) (Rule, error) {
	if _, _, ok := rule.ParseName(Rule(name)); ok {
		return Rule(name), nil
	}
	names := make([]string, len(BuiltInRules))
	for i, r := range BuiltInRules {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown rule %q (rules: %s, or {metric}_{high|low|no_occupancy|anomaly|stuck})", name, strings.Join(names, ", "))
}

// level returns a reading's level for a high, low or no_occupancy rule of value x; false when
// the rule has no level for this reading (it lacks the occupancy no_occupancy needs).
func level(r *rule.Row, x float64, rd *reading.Reading) (Level, bool) {
	switch r.Kind {
	case rule.High:
		switch {
		case r.Violation.Set && x > r.Violation.V:
			return Violation, true
		case r.Warning.Set && x > r.Warning.V:
			return Warning, true
		}
	case rule.Low:
		switch {
		case r.Violation.Set && x < r.Violation.V:
			return Violation, true
		case r.Warning.Set && x < r.Warning.V:
			return Warning, true
		}
	case rule.NoOccupancy:
		occ, ok := rd.Value(reading.Occupancy)
		if !ok {
			return OK, false
		}
		if occ == 0 && x > r.Warning.V {
			return Warning, true
		}
	}
	return OK, true
}

// held reports whether a reading of level OK still keeps an open episode of the rule open: x is
// within the rule's hysteresis of its OK boundary (DESIGN.md, "Hysteresis").
func held(r *rule.Row, x float64, rd *reading.Reading) bool {
	if !r.Hysteresis.Set {
		return false
	}
	b := r.Warning
	if !b.Set {
		b = r.Violation
	}
	switch r.Kind {
	case rule.High:
		return b.Set && x > b.V-r.Hysteresis.V
	case rule.Low:
		return b.Set && x < b.V+r.Hysteresis.V
	case rule.NoOccupancy:
		occ, ok := rd.Value(reading.Occupancy)
		return ok && occ == 0 && x > r.Warning.V-r.Hysteresis.V
	}
	return false
}

// thresholdOf is an alert's threshold_value for severity sev: the rule's threshold of that
// severity, its z-score, or its seconds.
func thresholdOf(r *rule.Row, sev Level) float64 {
	if sev == Violation && (r.Kind == rule.High || r.Kind == rule.Low) {
		return r.Violation.V
	}
	return r.Warning.V
}

// seconds is a stuck or silent rule's duration.
func seconds(r *rule.Row) int64 { return int64(r.Warning.V) }

// floor is an anomaly rule's floor of the standard deviation.
// floorOf is an anomaly rule's floor of the standard deviation: its row's, else its declared
// metric's from the catalog, else the built-in's default.
func floorOf(r *rule.Row, cat *reading.Catalog) float64 {
	if r.Floor.Set {
		return r.Floor.V
	}
	if d, ok := cat.Get(r.Metric); ok {
		return d.Floor
	}
	return rule.DefaultFloor(r.Metric)
}

// InForce makes the rules in force of a device with only wide configs: their device rows.
func InForce(configs []threshold.Config) []rule.InForce {
	out := make([]rule.InForce, 0, 6*len(configs)) // at most six rows a config
	for _, c := range configs {
		rule.EachRow(c, func(r rule.Row) { out = append(out, rule.InForce{Row: r}) })
	}
	return out
}
