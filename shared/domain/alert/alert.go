// Package alert is the alert of DESIGN.md: the JSON that SNS carries, the lake's alerts table holds
// and `iotwatch backtest` prints, its deterministic id, and the texts people read (email, SMS,
// digest).
//
// The JSON is in SI units and UTC, always. The texts are in their reader's units and time zone:
// a sender makes them from a Presentation, {Units, Zone, Catalog}, which user.User.Presentation
// (or evaluator.Notice.Presentation) builds from the person's preferences and the metrics
// catalog:
//
//	p := u.Presentation(catalog) // metric, UTC for a nil user
//	subject, body, sms := p.Subject(&a, dev), p.Email(&a, dev), p.SMS(&a, dev)
//	subject, body, sms = p.DigestTexts(&digest, held, label)
//
// Email adds no links (WithLinks does); SMS keeps to MaxSMS characters (SMSWithLink too), so a
// chat or paging summary may use it as is.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Kind is what happened to an alarm episode.
type Kind string

// The kinds of alert.
const (
	Open     Kind = "OPEN"
	Escalate Kind = "ESCALATE"
	Remind   Kind = "REMIND"
	Resolve  Kind = "RESOLVE"
)

// Kinds lists every kind, in the order an episode goes through them.
var Kinds = []Kind{Open, Escalate, Remind, Resolve}

// Severity is how bad an episode is.
type Severity string

// The severities, least severe first.
const (
	Warning   Severity = "WARNING"
	Violation Severity = "VIOLATION"
)

// Severities lists every severity, least severe first.
var Severities = []Severity{Warning, Violation}

// Rule names the alarm rule an alert comes from.
type Rule string

// The rules of DESIGN.md.
const (
	TemperatureHigh    Rule = "temperature_high"
	TemperatureLow     Rule = "temperature_low"
	LightNoOccupancy   Rule = "light_no_occupancy"
	TemperatureAnomaly Rule = "temperature_anomaly"
	SensorStuck        Rule = "sensor_stuck"
	DeviceSilent       Rule = "device_silent"
)

// Number is a value an alert may lack, JSON null: the observed value when the reading that
// resolves an episode of a deleted config does not carry the rule's metric, the threshold of a
// config that no longer exists.
type Number struct {
	V     float64
	Valid bool
}

// Num returns a Number that holds v.
func Num(v float64) Number { return Number{V: v, Valid: true} }

func (n Number) ptr() *float64 {
	if !n.Valid {
		return nil
	}
	return &n.V
}

func metricPtr(m string) *string {
	if m == "" {
		return nil
	}
	return &m
}

func numberOf(p *float64) Number {
	if p == nil {
		return Number{}
	}
	return Num(*p)
}

// String is the number as people read it, "none" when it is absent.
func (n Number) String() string {
	if !n.Valid {
		return "none"
	}
	return strconv.FormatFloat(n.V, 'f', -1, 64)
}

// Alert is one alert, in the contract's field order.
type Alert struct {
	AlertID        string    `json:"alert_id"`
	Kind           Kind      `json:"kind"`
	AlertTime      time.Time `json:"alert_time"`
	UserID         string    `json:"user_id"`
	DeviceID       string    `json:"device_id"`
	Rule           Rule      `json:"rule"`
	Severity       Severity  `json:"severity"`
	Metric         string    `json:"metric"` // "" (JSON null) for device_silent
	ObservedValue  Number    `json:"observed_value"`
	ThresholdValue Number    `json:"threshold_value"`
	WindowStartMs  int64     `json:"window_start_ms"`
	WindowEndMs    int64     `json:"window_end_ms"`
	ConfigVersion  int64     `json:"config_version"` // the version of the config that raised it (0: deleted)
	// Suppressed says why the alert was not sent to its user ("" when it was): Snoozed or
	// QuietHours. A suppressed alert is still made, stored and counted; its id is the same.
	Suppressed Suppression `json:"suppressed,omitempty"`
	// Via is, for a row that records what a person did (kind ACK, SNOOZE), the channel they
	// used ("link", "cli"); absent on alerts.
	Via string `json:"via,omitempty"`
}

// Notified are the kinds that reach people; the other rows of the alerts table (ACK, SNOOZE:
// what people did) are for the lake only. Users' subscriptions filter on it.
var Notified = []Kind{Open, Escalate, Remind, Resolve, Digest}

// Suppression is why an alert was not sent.
type Suppression string

// The suppressions (DESIGN.md, "Acknowledge and snooze").
const (
	Snoozed    Suppression = "snoozed"
	QuietHours Suppression = "quiet_hours"
)

// NotSuppressed is the value of the SNS attribute "suppressed" of an alert that is sent: the
// users' subscriptions filter on it (the lake's takes every alert).
const NotSuppressed = "no"

// ID computes the deterministic alert id: the same user, device, rule, kind, severity, alert time
// and window start always give the same id, so a replayed batch yields the same ids and consumers
// can de-duplicate on it.
func ID(a *Alert) string {
	var stack [512]byte
	b := stack[:0]
	for _, s := range [...]string{a.UserID, a.DeviceID, string(a.Rule), string(a.Kind), string(a.Severity)} {
		b = append(b, s...)
		b = append(b, 0)
	}
	b = strconv.AppendInt(b, a.AlertTime.UnixNano(), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, a.WindowStartMs, 10)
	b = append(b, 0)
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// wire is the alert as it travels, in the contract's field order, with alert_time in UTC.
type wire struct {
	AlertID        string      `json:"alert_id"`
	Kind           Kind        `json:"kind"`
	AlertTime      string      `json:"alert_time"`
	UserID         string      `json:"user_id"`
	DeviceID       string      `json:"device_id"`
	Rule           Rule        `json:"rule"`
	Severity       Severity    `json:"severity"`
	Metric         *string     `json:"metric"`
	ObservedValue  *float64    `json:"observed_value"`
	ThresholdValue *float64    `json:"threshold_value"`
	WindowStartMs  int64       `json:"window_start_ms"`
	WindowEndMs    int64       `json:"window_end_ms"`
	ConfigVersion  int64       `json:"config_version"`
	Suppressed     Suppression `json:"suppressed,omitempty"`
	Via            string      `json:"via,omitempty"`
}

// MarshalJSON writes the contract's JSON, alert_time as RFC 3339 in UTC.
func (a Alert) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{a.AlertID, a.Kind, a.AlertTime.UTC().Format(time.RFC3339Nano), a.UserID, a.DeviceID,
		a.Rule, a.Severity, metricPtr(a.Metric), a.ObservedValue.ptr(), a.ThresholdValue.ptr(), a.WindowStartMs, a.WindowEndMs, a.ConfigVersion, a.Suppressed, a.Via})
}

// UnmarshalJSON reads the contract's JSON.
func (a *Alert) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, w.AlertTime)
	if err != nil {
		return fmt.Errorf("alert_time: %w", err)
	}
	metric := ""
	if w.Metric != nil {
		metric = *w.Metric
	}
	*a = Alert{w.AlertID, w.Kind, t, w.UserID, w.DeviceID, w.Rule, w.Severity, metric, numberOf(w.ObservedValue),
		numberOf(w.ThresholdValue), w.WindowStartMs, w.WindowEndMs, w.ConfigVersion, w.Suppressed, w.Via}
	return nil
}

// Attributes are the SNS message attributes subscriptions filter on: a user's subscription
// takes suppressed = NotSuppressed only.
func (a *Alert) Attributes() map[string]string {
	sup := NotSuppressed
	if a.Suppressed != "" {
		sup = string(a.Suppressed)
	}
	out := map[string]string{
		"user_id":    a.UserID,
		"device_id":  a.DeviceID,
		"rule":       string(a.Rule),
		"severity":   string(a.Severity),
		"kind":       string(a.Kind),
		"suppressed": sup,
	}
	for k, v := range out {
		if v == "" { // a digest has no device or rule; SNS refuses empty attribute values
			delete(out, k)
		}
	}
	return out
}
