// Package alarm is the alarm state machine of DESIGN.md ("Rules and levels", "Alarm state"): it
// applies a device's readings in arrival order to the state of every (user, rule) of that device
// and emits OPEN, ESCALATE and RESOLVE alerts. It knows nothing of AWS or of storage.
package alarm

import (
	"fmt"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
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

// Rule is one alarm rule.
type Rule uint8

// The rules of DESIGN.md. The first NumRules are judged at each reading; DeviceSilent is judged
// on a clock (Device.Advance), and resolved by a reading.
const (
	TemperatureHigh Rule = iota
	TemperatureLow
	LightNoOccupancy
	TemperatureAnomaly
	SensorStuck
	NumRules
	DeviceSilent = NumRules
)

var ruleNames = [NumRules + 1]alert.Rule{alert.TemperatureHigh, alert.TemperatureLow, alert.LightNoOccupancy,
	alert.TemperatureAnomaly, alert.SensorStuck, alert.DeviceSilent}

// Name is the rule's name in alerts.
func (r Rule) Name() alert.Rule { return ruleNames[r] }

func (r Rule) String() string {
	if r <= DeviceSilent {
		return string(ruleNames[r])
	}
	return fmt.Sprintf("rule(%d)", r)
}

// Metric is the reading metric an alert of the rule reports as its observed value.
func (r Rule) Metric() reading.Metric {
	if r == LightNoOccupancy {
		return reading.Light
	}
	return reading.Temperature
}

// MetricName is the alert's metric: none ("", JSON null) for device_silent.
func (r Rule) MetricName() string {
	if r == DeviceSilent {
		return ""
	}
	return r.Metric().String()
}

// Threshold returns the threshold of severity sev for the rule (for light, light_no_occupancy;
// for the anomaly, temp_zscore; for the stuck sensor and silence, their seconds).
func (r Rule) Threshold(c *threshold.Config, sev Level) float64 {
	switch r {
	case TemperatureAnomaly:
		return c.TempZScore.V
	case SensorStuck:
		return float64(c.StuckSeconds)
	case DeviceSilent:
		return float64(c.SilentSeconds)
	case TemperatureHigh:
		if sev == Violation {
			return c.TempViolation.V
		}
		return c.TempWarning.V
	case TemperatureLow:
		if sev == Violation {
			return c.TempLowViolation.V
		}
		return c.TempLowWarning.V
	}
	return c.LightNoOccupancy.V
}

// Level returns the reading's level for the rule under config c; false when the rule has no level
// for this reading (its thresholds are not set, or the reading lacks its metrics).
func (r Rule) Level(rd *reading.Reading, c *threshold.Config) (Level, bool) {
	switch r {
	case TemperatureHigh:
		if !c.TempWarning.Set && !c.TempViolation.Set {
			return OK, false
		}
		t, ok := rd.Value(reading.Temperature)
		if !ok {
			return OK, false
		}
		if c.TempViolation.Set && t > c.TempViolation.V {
			return Violation, true
		}
		if c.TempWarning.Set && t > c.TempWarning.V {
			return Warning, true
		}
		return OK, true
	case TemperatureLow:
		if !c.TempLowWarning.Set && !c.TempLowViolation.Set {
			return OK, false
		}
		t, ok := rd.Value(reading.Temperature)
		if !ok {
			return OK, false
		}
		if c.TempLowViolation.Set && t < c.TempLowViolation.V {
			return Violation, true
		}
		if c.TempLowWarning.Set && t < c.TempLowWarning.V {
			return Warning, true
		}
		return OK, true
	case LightNoOccupancy:
		if !c.LightNoOccupancy.Set {
			return OK, false
		}
		light, ok1 := rd.Value(reading.Light)
		occ, ok2 := rd.Value(reading.Occupancy)
		if !ok1 || !ok2 {
			return OK, false
		}
		if occ == 0 && light > c.LightNoOccupancy.V {
			return Warning, true
		}
		return OK, true
	}
	return OK, false
}

// Held reports whether a reading of level OK still keeps an open episode of the rule open: it is
// within the config's hysteresis margin of the rule's OK boundary (DESIGN.md, "Hysteresis").
func (r Rule) Held(rd *reading.Reading, c *threshold.Config) bool {
	switch r {
	case TemperatureHigh:
		b := c.TempWarning
		if !b.Set {
			b = c.TempViolation
		}
		t, ok := rd.Value(reading.Temperature)
		return ok && b.Set && c.TempHysteresis.Set && t > b.V-c.TempHysteresis.V
	case TemperatureLow:
		b := c.TempLowWarning
		if !b.Set {
			b = c.TempLowViolation
		}
		t, ok := rd.Value(reading.Temperature)
		return ok && b.Set && c.TempHysteresis.Set && t < b.V+c.TempHysteresis.V
	case LightNoOccupancy:
		light, ok1 := rd.Value(reading.Light)
		occ, ok2 := rd.Value(reading.Occupancy)
		return ok1 && ok2 && c.LightHysteresis.Set && occ == 0 && light > c.LightNoOccupancy.V-c.LightHysteresis.V
	}
	return false
}
