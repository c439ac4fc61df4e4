package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
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

// unit is what follows a value of metric in texts: "°C" and "%" close up, others after a space
// (" ppm", " lux", " µg/m³").
func unit(u Units, metric string) string {
	if u == nil {
		u = (*reading.Catalog)(nil)
	}
	switch s := u.Unit(metric); s {
	case "":
		return ""
	case "°C", "%":
		return s
	default:
		return " " + s
	}
}

// unitOf is u after a number, nothing after an absent one.
func unitOf(n Number, u string) string {
	if !n.Valid {
		return ""
	}
	return u
}

// comparison says how the observed value stands to the threshold, e.g. "26.4 °C > 26 °C"; for
// an episode whose config was deleted, that its thresholds were removed.
func comparison(a *Alert, units Units) string {
	u := unit(units, a.Metric)
	if !a.ThresholdValue.Valid {
		if a.ObservedValue.Valid {
			return fmt.Sprintf("%s%s, thresholds removed", a.ObservedValue, u)
		}
		return "thresholds removed"
	}
	switch kindOf(a.Rule) {
	case "anomaly":
		if a.Kind == Resolve {
			return fmt.Sprintf("%s%s, usual again", a.ObservedValue, u)
		}
		return fmt.Sprintf("%s%s, more than %s standard deviations from its recent mean", a.ObservedValue, u, a.ThresholdValue)
	case "stuck":
		if a.Kind == Resolve {
			return fmt.Sprintf("%s%s, moving again", a.ObservedValue, u)
		}
		return fmt.Sprintf("stuck at %s%s for %s or more", a.ObservedValue, u, seconds(a.ThresholdValue))
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
	return fmt.Sprintf("%s%s %s %s%s", a.ObservedValue, unitOf(a.ObservedValue, u), op, a.ThresholdValue, u)
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
func Subject(a *Alert, d device.Device) string {
	return truncate(fmt.Sprintf("[iotwatch] %s %s %s on %s", a.Severity, ruleWord(a.Rule), kindWords[a.Kind], d.Label()), MaxSubject)
}

// Email is the email body: what happened, where, when, and the figures (units: the metrics'
// units, nil for the built-ins' only).
func Email(a *Alert, d device.Device, units Units) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s alert %s: %s on %s.\n\n", a.Severity, kindWords[a.Kind], ruleWord(a.Rule), d.Label())
	if d.Location != "" {
		fmt.Fprintf(&b, "Location:  %s\n", d.Location)
	}
	if a.Metric != "" {
		fmt.Fprintf(&b, "Reading:   %s %s\n", metricWord(a.Metric), comparison(a, units))
	} else {
		fmt.Fprintf(&b, "Reading:   %s\n", comparison(a, units))
	}
	fmt.Fprintf(&b, "Time:      %s\n", a.AlertTime.UTC().Format(time.RFC3339))
	start := time.UnixMilli(a.WindowStartMs).UTC()
	switch a.Kind {
	case Resolve:
		fmt.Fprintf(&b, "Episode:   %s to %s (%s)\n", start.Format(time.RFC3339), a.AlertTime.UTC().Format(time.RFC3339), a.AlertTime.Sub(start).Round(time.Second))
	default:
		fmt.Fprintf(&b, "Since:     %s (%s)\n", start.Format(time.RFC3339), a.AlertTime.Sub(start).Round(time.Second))
	}
	fmt.Fprintf(&b, "\nUser %s, rule %s (thresholds version %d), alert %s.\n", a.UserID, a.Rule, a.ConfigVersion, a.AlertID)
	return b.String()
}

// SMS is the text message, at most MaxSMS characters.
func SMS(a *Alert, d device.Device, units Units) string {
	name := d.Name
	if name == "" {
		name = d.ID
	}
	tail := fmt.Sprintf(" %s: %s %s", ruleWord(a.Rule), comparison(a, units), a.AlertTime.UTC().Format("Jan 2 15:04Z"))
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
