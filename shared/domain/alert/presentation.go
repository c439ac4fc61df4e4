package alert

import (
	"math"
	"strconv"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// UnitSystem is the system of units a person reads values in (the users file's `units`).
type UnitSystem string

// The unit systems. The empty one is MetricUnits: the users files of the editions before
// `units` existed mean metric.
const (
	MetricUnits   UnitSystem = "metric"
	ImperialUnits UnitSystem = "imperial"
)

// UnitSystems lists the unit systems a users file may name.
var UnitSystems = []UnitSystem{MetricUnits, ImperialUnits}

// Presentation is how one person reads alerts: in their system of units, on the clock of their
// time zone, with the metrics' units from the catalog. Every text of an alert (email, SMS,
// digest, and the chat and paging summaries) is made by its methods; the alert itself (its
// JSON) stays in SI units and UTC. The zero value is metric and UTC with the built-in metrics'
// units only.
//
// Imperial changes temperatures only: a value of a built-in metric in °C (temperature) reads
// in °F, thresholds included; humidity (%), CO₂ (ppm), light (lux) and humidity ratio (kg/kg)
// have no other unit in use in the US, and a declared metric keeps the unit it was declared
// with (its declarer chose it).
type Presentation struct {
	Units   UnitSystem
	Zone    *time.Location // nil: UTC
	Catalog Units          // the metrics' units (reading.Catalog); nil: the built-ins' only
}

// zone is the presentation's time zone, UTC when none is set.
func (p Presentation) zone() *time.Location {
	if p.Zone == nil {
		return time.UTC
	}
	return p.Zone
}

// at is t on the reader's clock in layout, followed by the zone's abbreviation ("08:25 CST");
// a zone without one is named by its offset ("-03"), as Go names it.
func (p Presentation) at(t time.Time, layout string) string {
	return t.In(p.zone()).Format(layout + " MST")
}

// zoneNote names the reader's zone after a time whose abbreviation does not say it all
// (" (America/Chicago)"; nothing for UTC).
func (p Presentation) zoneNote(t time.Time) string {
	name := p.zone().String()
	if abbr := t.In(p.zone()).Format("MST"); abbr == name {
		return ""
	}
	return " (" + name + ")"
}

// fahrenheit reports whether values of metric read in °F for this reader: imperial, and a
// built-in metric measured in °C.
func (p Presentation) fahrenheit(metric string) bool {
	return p.Units == ImperialUnits && reading.Builtin(metric) && p.unitName(metric) == "°C"
}

func (p Presentation) unitName(metric string) string {
	if p.Catalog == nil {
		return (*reading.Catalog)(nil).Unit(metric)
	}
	return p.Catalog.Unit(metric)
}

// unit is what follows a value of metric in texts: "°C", "°F" and "%" close up, others after a
// space (" ppm", " lux", " µg/m³").
func (p Presentation) unit(metric string) string {
	switch s := p.unitName(metric); {
	case s == "":
		return ""
	case p.fahrenheit(metric):
		return "°F"
	case s == "°C" || s == "%":
		return s
	default:
		return " " + s
	}
}

// value is a value of metric as the reader reads it: as the alert holds it, or in °F
// (°F = °C × 9/5 + 32) rounded to one decimal (0.1 °F is 0.06 °C, finer than the sensors).
func (p Presentation) value(metric string, n Number) string {
	if !p.fahrenheit(metric) {
		return n.String()
	}
	return roundTo(toFahrenheit(n), 1)
}

// values are an observed value and the threshold it is compared with (both in metric's unit)
// as the reader reads them: as value, with more decimals when one would show two different
// values as equal ("75.2°F > 75.2°F" for 24.01 > 24 reads "75.22°F > 75.2°F").
func (p Presentation) values(metric string, observed, threshold Number) (string, string) {
	if !p.fahrenheit(metric) {
		return observed.String(), threshold.String()
	}
	o, t := toFahrenheit(observed), toFahrenheit(threshold)
	for digits := 1; ; digits++ {
		so, st := roundTo(o, digits), roundTo(t, digits)
		if digits >= 4 || !o.Valid || !t.Valid || observed.V == threshold.V || so != st {
			return so, st
		}
	}
}

// Figures are an observed value and its threshold of metric as the reader reads them, each with
// its unit ("75.7°F", "75.2°F"; "1240 ppm"; "none" for an absent value), for the texts that show
// them apart (chat fields, a paging summary's details). Pass an absent threshold for a rule
// whose threshold is not in the metric's unit (anomaly, stuck, silent).
func (p Presentation) Figures(metric string, observed, threshold Number) (string, string) {
	o, t := p.values(metric, observed, threshold)
	u := p.unit(metric)
	return o + unitOf(observed, u), t + unitOf(threshold, u)
}

// Time is t on the reader's clock, its zone abbreviated: "2015-02-02 08:25:00 CST".
func (p Presentation) Time(t time.Time) string { return p.at(t, emailTime) }

func toFahrenheit(n Number) Number {
	if !n.Valid {
		return n
	}
	return Num(n.V*9/5 + 32)
}

// roundTo writes n rounded to digits decimals, without trailing zeros ("77", "75.7").
func roundTo(n Number, digits int) string {
	if !n.Valid {
		return n.String()
	}
	scale := math.Pow10(digits)
	v := math.Round(n.V*scale) / scale
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
