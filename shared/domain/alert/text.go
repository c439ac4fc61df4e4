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
	TemperatureHigh:  "temperature high",
	TemperatureLow:   "temperature low",
	LightNoOccupancy: "lights on in an empty room",
}

func ruleWord(rule Rule) string {
	if w, ok := ruleWords[rule]; ok {
		return w
	}
	return string(rule)
}

var kindWords = map[Kind]string{Open: "opened", Escalate: "escalated", Resolve: "resolved"}

func unit(metric string) string {
	switch metric {
	case "temperature":
		return "°C"
	case "light":
		return " lux"
	}
	return ""
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
func comparison(a *Alert) string {
	u := unit(a.Metric)
	if !a.ThresholdValue.Valid {
		if a.ObservedValue.Valid {
			return fmt.Sprintf("%s%s, thresholds removed", a.ObservedValue, u)
		}
		return "thresholds removed"
	}
	op := ">"
	if a.Rule == TemperatureLow {
		op = "<"
	}
	if a.Kind == Resolve {
		op = "back within"
	}
	return fmt.Sprintf("%s%s %s %s%s", a.ObservedValue, unitOf(a.ObservedValue, u), op, a.ThresholdValue, u)
}

// Subject is the email subject, at most MaxSubject characters.
func Subject(a *Alert, d device.Device) string {
	return truncate(fmt.Sprintf("[iotwatch] %s %s %s on %s", a.Severity, ruleWord(a.Rule), kindWords[a.Kind], d.Label()), MaxSubject)
}

// Email is the email body: what happened, where, when, and the figures.
func Email(a *Alert, d device.Device) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s alert %s: %s on %s.\n\n", a.Severity, kindWords[a.Kind], ruleWord(a.Rule), d.Label())
	if d.Location != "" {
		fmt.Fprintf(&b, "Location:  %s\n", d.Location)
	}
	fmt.Fprintf(&b, "Reading:   %s %s\n", a.Metric, comparison(a))
	fmt.Fprintf(&b, "Time:      %s\n", a.AlertTime.UTC().Format(time.RFC3339))
	start := time.UnixMilli(a.WindowStartMs).UTC()
	switch a.Kind {
	case Resolve:
		fmt.Fprintf(&b, "Episode:   %s to %s (%s)\n", start.Format(time.RFC3339), a.AlertTime.UTC().Format(time.RFC3339), a.AlertTime.Sub(start).Round(time.Second))
	default:
		fmt.Fprintf(&b, "Since:     %s (%s)\n", start.Format(time.RFC3339), a.AlertTime.Sub(start).Round(time.Second))
	}
	fmt.Fprintf(&b, "\nUser %s, rule %s, alert %s.\n", a.UserID, a.Rule, a.AlertID)
	return b.String()
}

// SMS is the text message, at most MaxSMS characters.
func SMS(a *Alert, d device.Device) string {
	name := d.Name
	if name == "" {
		name = d.ID
	}
	tail := fmt.Sprintf(" %s %s %s %s", ruleWord(a.Rule), a.Metric, comparison(a), a.AlertTime.UTC().Format("Jan 2 15:04Z"))
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
