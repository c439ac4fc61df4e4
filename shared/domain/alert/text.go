package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/device"
)

// MaxSMS is the longest SMS text, in characters.
const MaxSMS = 140

// MaxSubject is the longest email subject SNS accepts, in characters.
const MaxSubject = 100

var ruleWords = map[Rule]string{
	TemperatureHigh:    "temperature high",
	TemperatureLow:     "temperature low",
	LightNoOccupancy:   "lights on in an empty room",
	TemperatureAnomaly: "unusual temperature",
	SensorStuck:        "temperature sensor stuck",
	DeviceSilent:       "device silent",
}

// metricWords are how texts name metrics whose names read badly.
var metricWords = map[string]string{"co2": "CO₂", "humidity_ratio": "humidity ratio"}

// metricWord is how texts name a metric: "CO₂", "humidity", a declared metric's name with its
// underscores as spaces ("supply temp").
func metricWord(metric string) string {
	if w, ok := metricWords[metric]; ok {
		return w
	}
	return strings.ReplaceAll(metric, "_", " ")
}

// ruleWord is how texts name a rule: "temperature high", "CO₂ high", "unusual pm25".
func ruleWord(rule Rule) string {
	if w, ok := ruleWords[rule]; ok {
		return w
	}
	for _, k := range [...]struct{ suffix, format string }{
		{"_high", "%s high"}, {"_low", "%s low"}, {"_no_occupancy", "%s with no one present"},
		{"_anomaly", "unusual %s"}, {"_stuck", "%s sensor stuck"},
	} {
		if m, ok := strings.CutSuffix(string(rule), k.suffix); ok && m != "" {
			return fmt.Sprintf(k.format, metricWord(m))
		}
	}
	return string(rule)
}

var kindWords = map[Kind]string{Open: "opened", Escalate: "escalated", Remind: "still open", Resolve: "resolved"}

// Units names the unit of a metric for texts (reading.Catalog: the built-ins' and the declared
// metrics'); nil: the built-ins' only.
type Units interface {
	Unit(metric string) string
}

// unitOf is u after a number, nothing after an absent one.
func unitOf(n Number, u string) string {
	if !n.Valid {
		return ""
	}
	return u
}

// comparison says how the observed value stands to the threshold, e.g. "26.4°C > 26°C" (or
// "79.5°F > 78.8°F"); for an episode whose config was deleted, that its thresholds were removed.
// The threshold of an anomaly rule is a number of standard deviations and a stuck or silent
// rule's a number of seconds: neither is in the metric's unit, neither is converted.
func (p Presentation) comparison(a *Alert) string {
	u := p.unit(a.Metric)
	observed := p.value(a.Metric, a.ObservedValue)
	if !a.ThresholdValue.Valid {
		if a.ObservedValue.Valid {
			return fmt.Sprintf("%s%s, thresholds removed", observed, u)
		}
		return "thresholds removed"
	}
	switch kindOf(a.Rule) {
	case "anomaly":
		if a.Kind == Resolve {
			return fmt.Sprintf("%s%s, usual again", observed, u)
		}
		return fmt.Sprintf("%s%s, more than %s standard deviations from its recent mean", observed, u, a.ThresholdValue)
	case "stuck":
		if a.Kind == Resolve {
			return fmt.Sprintf("%s%s, moving again", observed, u)
		}
		return fmt.Sprintf("stuck at %s%s for %s or more", observed, u, seconds(a.ThresholdValue))
	case "silent":
		if a.Kind == Resolve {
			return fmt.Sprintf("reporting again after %s", seconds(a.ObservedValue))
		}
		return fmt.Sprintf("no reading for %s", seconds(a.ObservedValue))
	}
	op := ">"
	if kindOf(a.Rule) == "low" {
		op = "<"
	}
	if a.Kind == Resolve {
		op = "back within"
	}
	observed, threshold := p.values(a.Metric, a.ObservedValue, a.ThresholdValue)
	return fmt.Sprintf("%s%s %s %s%s", observed, unitOf(a.ObservedValue, u), op, threshold, u)
}

// kindOf is the kind of rule a rule's name ends with: high, low, no_occupancy, anomaly, stuck,
// or silent (device_silent; sensor_stuck is temperature's stuck rule).
func kindOf(rule Rule) string {
	switch rule {
	case DeviceSilent:
		return "silent"
	case SensorStuck:
		return "stuck"
	}
	for _, k := range [...]string{"no_occupancy", "high", "low", "anomaly", "stuck"} {
		if strings.HasSuffix(string(rule), "_"+k) {
			return k
		}
	}
	return ""
}

// seconds renders a number of seconds as a duration people read, "15m0s" → "15m".
func seconds(n Number) string {
	if !n.Valid {
		return "an unknown time"
	}
	d := time.Duration(n.V * float64(time.Second)).Round(time.Second).String()
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

// Subject is the email subject, at most MaxSubject characters.
func (p Presentation) Subject(a *Alert, d device.Device) string {
	return truncate(fmt.Sprintf("[iotwatch] %s %s %s on %s", a.Severity, ruleWord(a.Rule), kindWords[a.Kind], d.Label()), MaxSubject)
}

// Email is the email body: what happened, where, when (on the reader's clock, its zone named),
// and the figures (in the reader's units).
func (p Presentation) Email(a *Alert, d device.Device) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s alert %s: %s on %s.\n\n", a.Severity, kindWords[a.Kind], ruleWord(a.Rule), d.Label())
	if d.Location != "" {
		fmt.Fprintf(&b, "Location:  %s\n", d.Location)
	}
	if a.Metric != "" {
		fmt.Fprintf(&b, "Reading:   %s %s\n", metricWord(a.Metric), p.comparison(a))
	} else {
		fmt.Fprintf(&b, "Reading:   %s\n", p.comparison(a))
	}
	fmt.Fprintf(&b, "Time:      %s%s\n", p.at(a.AlertTime, emailTime), p.zoneNote(a.AlertTime))
	start := time.UnixMilli(a.WindowStartMs)
	switch a.Kind {
	case Resolve:
		fmt.Fprintf(&b, "Episode:   %s to %s (%s)\n", p.at(start, emailTime), p.at(a.AlertTime, emailTime), a.AlertTime.Sub(start).Round(time.Second))
	default:
		fmt.Fprintf(&b, "Since:     %s (%s)\n", p.at(start, emailTime), a.AlertTime.Sub(start).Round(time.Second))
	}
	fmt.Fprintf(&b, "\nUser %s, rule %s (thresholds version %d), alert %s.\n", a.UserID, a.Rule, a.ConfigVersion, a.AlertID)
	return b.String()
}

// emailTime is how an email writes a time (followed by the zone's abbreviation).
const emailTime = "2006-01-02 15:04:05"

// SMS is the text message, at most MaxSMS characters; its time is on the reader's clock
// ("Feb 2 08:25 CST").
func (p Presentation) SMS(a *Alert, d device.Device) string {
	name := d.Name
	if name == "" {
		name = d.ID
	}
	tail := fmt.Sprintf(" %s: %s %s", ruleWord(a.Rule), p.comparison(a), p.at(a.AlertTime, "Jan 2 15:04"))
	head := fmt.Sprintf("iotwatch %s %s: ", a.Severity, a.Kind)
	room := MaxSMS - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail)
	if room < 8 {
		return truncate(head+name+tail, MaxSMS)
	}
	return head + truncate(name, room) + tail
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// WithLinks appends an alert email's one-click links (none when ack is "").
func WithLinks(email, ack, snooze string) string {
	if ack == "" {
		return email
	}
	return email + "\nAcknowledge (no more reminders until it escalates): " + ack + "\nSnooze 1 h: " + snooze + "\n"
}

// SMSWithLink ends an SMS with its acknowledge link, shortening the text to keep within MaxSMS;
// a link too long to leave 40 characters of text is left out.
func SMSWithLink(sms, ack string) string {
	n := utf8.RuneCountInString(ack)
	if ack == "" || n > MaxSMS-41 {
		return sms
	}
	return truncate(sms, MaxSMS-n-1) + " " + ack
}
