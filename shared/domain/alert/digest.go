package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Digest is the kind of the one message a user gets when their quiet hours end, listing the
// alerts that were held (DESIGN.md, "Acknowledge and snooze"). It travels as an alert (so the
// lake keeps it beside the alerts it summarizes): user_id, alert_time (the end of the quiet
// hours), severity (the highest held), observed_value (how many were held), and no device, rule
// or metric.
const Digest Kind = "DIGEST"

// NewDigest makes the digest of held alerts (at least one) for user at time at; its id is
// deterministic: the same held alerts give the same id.
func NewDigest(user string, at time.Time, held []Alert) Alert {
	d := Alert{Kind: Digest, AlertTime: at.UTC(), UserID: user, Severity: Warning, ObservedValue: Num(float64(len(held))),
		WindowEndMs: at.UnixMilli()}
	if len(held) > 0 {
		d.WindowStartMs = held[0].AlertTime.UnixMilli()
	}
	ids := make([]string, 0, len(held))
	for _, a := range held {
		if a.Severity == Violation {
			d.Severity = Violation
		}
		if ms := a.AlertTime.UnixMilli(); ms < d.WindowStartMs {
			d.WindowStartMs = ms
		}
		ids = append(ids, a.AlertID)
	}
	sort.Strings(ids)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", Digest, user, d.AlertTime.UnixNano(), strings.Join(ids, ","))
	d.AlertID = hex.EncodeToString(h.Sum(nil)[:16])
	return d
}

// episodeKey names the episode an alert belongs to, for a digest: its device and rule.
func episodeKey(a *Alert) [2]string { return [2]string{a.DeviceID, string(a.Rule)} }

// openAtEnd says, per episode, whether it is still open after the held alerts: its last one is
// not a RESOLVE.
func openAtEnd(held []Alert) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, a := range sortedByTime(held) {
		out[episodeKey(&a)] = a.Kind != Resolve
	}
	return out
}

// DigestOrder orders held alerts for a digest: the episodes they leave unresolved first (their
// last held alert is not a RESOLVE), then the others, each group by time.
func DigestOrder(held []Alert) []Alert {
	open := openAtEnd(held)
	out := sortedByTime(held)
	sort.SliceStable(out, func(i, j int) bool { return open[episodeKey(&out[i])] && !open[episodeKey(&out[j])] })
	return out
}

// digestTime is how a digest writes a time (followed by the zone's abbreviation).
const digestTime = "Jan 2 15:04"

func sortedByTime(as []Alert) []Alert {
	out := append([]Alert(nil), as...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].AlertTime.Before(out[j].AlertTime) })
	return out
}

// DigestTexts are the digest's email subject, body and SMS (at most MaxSMS characters), in the
// reader's units and on their clock; label names a device for people (its name and id). held may
// be the first of the digest's alerts only (in DigestOrder: the notify function's message on AWS,
// when all would not fit): the texts then count them all (the digest's observed_value) and say how
// many are not listed.
func (p Presentation) DigestTexts(d *Alert, held []Alert, label func(deviceID string) string) (subject, email, sms string) {
	held = DigestOrder(held)
	count := len(held)
	if d.ObservedValue.Valid && int(d.ObservedValue.V) > count {
		count = int(d.ObservedValue.V)
	}
	stillOpen := 0
	for _, open := range openAtEnd(held) {
		if open {
			stillOpen++
		}
	}
	// Only held alerts are known here (a VIOLATION that went out is not): an episode whose held
	// alerts end without a RESOLVE may be open still, or have resolved in an alert that was sent.
	subject = truncate(fmt.Sprintf("[iotwatch] %d alerts held during your quiet hours", count), MaxSubject)
	var b strings.Builder
	from := time.UnixMilli(d.WindowStartMs)
	fmt.Fprintf(&b, "While your quiet hours lasted, from %s to %s%s, %d alerts were held for you. The %d episodes they leave unresolved come first (they may be open still):\n\n",
		p.at(from, digestTime), p.at(d.AlertTime, digestTime), p.zoneNote(d.AlertTime), count, stillOpen)
	for _, a := range held {
		fmt.Fprintf(&b, "- %s %s %s %s on %s: %s\n", p.at(a.AlertTime, digestTime), a.Severity, a.Kind, ruleWord(a.Rule), label(a.DeviceID), p.comparison(&a))
	}
	if more := count - len(held); more > 0 {
		fmt.Fprintf(&b, "- and %d more, not listed here: the e-mail digest lists every one\n", more)
	}
	fmt.Fprintf(&b, "\nUser %s, digest %s.\n", d.UserID, d.AlertID)
	email = b.String()

	var parts []string
	for _, a := range held {
		parts = append(parts, fmt.Sprintf("%s %s %s", a.DeviceID, ruleWord(a.Rule), a.Kind))
	}
	sms = truncate(fmt.Sprintf("iotwatch: %d held in quiet hours, %d unresolved: %s", count, stillOpen, strings.Join(parts, "; ")), MaxSMS)
	return subject, email, sms
}
