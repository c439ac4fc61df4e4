package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// Ack is the kind of the alerts-table row that records an acknowledgement (links.KindAck is the
// same value): PagerDuty channels get it as an `acknowledge` event, no other channel gets it.
const Ack alert.Kind = "ACK"

// Routes reports whether alert a goes to channel c. It needs no state: "a channel gets an
// episode's alerts once the episode has reached its min_severity, and then everything of that
// episode up to its RESOLVE" holds because an episode never goes down in severity and its
// REMIND, RESOLVE and ACK carry the episode's severity (DESIGN.md: "REMIND and RESOLVE keep the
// episode's severity"), so a.Severity is the highest the episode has reached at a. Hence:
//   - a suppressed alert (snoozed, quiet hours) goes nowhere, but for a RESOLVE to PagerDuty:
//     its `resolve` pages no one, and without it an incident triggered before the snooze or the
//     quiet hours would stay open in PagerDuty after the episode ended;
//   - an ACK goes to a PagerDuty channel whatever its min_severity: an incident paged before the
//     channel's min_severity was raised is acknowledged (it stops paging) when someone
//     acknowledges its episode, and PagerDuty discards an `acknowledge` of a key with no open
//     incident (acknowledgements come at people's pace). A RESOLVE below the channel's
//     min_severity does not go: it would be a request for every lower episode of the fleet,
//     against PagerDuty's rate limit (about 120 events a minute a key), which could delay a real
//     page; such an incident is resolved in PagerDuty;
//   - OPEN, ESCALATE, REMIND, RESOLVE go to c when a.Severity ≥ c.MinSeverity (a VIOLATION
//     channel gets an episode from its ESCALATE, or from an OPEN at VIOLATION, to its RESOLVE);
//   - a DIGEST goes to every channel but PagerDuty that would have got one of its held alerts:
//     its severity is the highest held (see DigestRoutes), and a summary is no incident;
//   - ACK goes to PagerDuty channels only (as `acknowledge`); SNOOZE, UNSNOOZE and any other kind
//     record what people did and are not sent.
func Routes(a *alert.Alert, c *Channel) bool {
	if c.Kind == PagerDuty && a.Kind == Ack {
		return true
	}
	if a.Suppressed != "" && (c.Kind != PagerDuty || a.Kind != alert.Resolve) {
		return false
	}
	if rank(a.Severity) < rank(c.minSeverity()) {
		return false
	}
	switch a.Kind {
	case alert.Open, alert.Escalate, alert.Remind, alert.Resolve:
		return true
	case alert.Digest:
		return c.Kind != PagerDuty
	case Ack:
		return c.Kind == PagerDuty
	}
	return false
}

// DigestRoutes reports whether a digest of held alerts goes to c: whether c would have got at
// least one of them had it not been held (PagerDuty never gets a digest). Routes of the digest
// alert gives the same answer from its severity alone (the highest held), which is what a
// receiver of the digest's JSON has.
func DigestRoutes(held []alert.Alert, c *Channel) bool {
	if c.Kind == PagerDuty {
		return false
	}
	for _, a := range held {
		a.Suppressed = ""
		if Routes(&a, c) {
			return true
		}
	}
	return false
}

// Event is a PagerDuty Events API v2 event_action.
type Event string

// The event actions iotwatch sends ("" is none).
const (
	Trigger     Event = "trigger"
	Acknowledge Event = "acknowledge"
	ResolveIt   Event = "resolve"
)

// EventOf is the PagerDuty event an alert makes: trigger for OPEN, ESCALATE (at critical, the
// same dedup_key: PagerDuty appends it to the open alert) and REMIND (appended to the open
// alert's log when there is one; it raises a new one when the OPEN never got through, being
// suppressed or dead-lettered, so the page still happens while the episode lasts), resolve for
// RESOLVE, acknowledge for ACK, none otherwise.
func EventOf(a *alert.Alert) Event {
	switch a.Kind {
	case alert.Open, alert.Escalate, alert.Remind:
		return Trigger
	case alert.Resolve:
		return ResolveIt
	case Ack:
		return Acknowledge
	}
	return ""
}

// PagerDutySeverity is payload.severity: critical for a VIOLATION, warning otherwise.
func PagerDutySeverity(s alert.Severity) string {
	if s == alert.Violation {
		return "critical"
	}
	return "warning"
}

// EpisodeStart is the start (Unix ms) of the episode a belongs to: the window start of its OPEN.
// known is that start when the caller knows it (the alarm state that raised a does), 0 when not.
// OPEN, REMIND, RESOLVE, ACK and SNOOZE carry it as window_start_ms; an ESCALATE's window is its
// VIOLATION run, so an ESCALATE with no known start falls back to its own window start, which
// names another episode: DESIGN.md's "Third edition: channels" proposes that the alert carry
// `episode_start_ms` so that this never happens.
func EpisodeStart(a *alert.Alert, known int64) int64 {
	if known != 0 {
		return known
	}
	return a.WindowStartMs
}

// EpisodeKey names the episode of alert a (user, device, rule and the episode's start, see
// EpisodeStart): the same for every alert of one episode, different for the next episode of the
// same rule. It is PagerDuty's dedup_key, so that an episode's trigger, re-triggers,
// acknowledge and resolve act on one PagerDuty alert. The OPEN's alert id cannot be it: a
// RESOLVE does not carry what that id is made of (the OPEN's time and severity).
func EpisodeKey(a *alert.Alert, known int64) string {
	b := make([]byte, 0, 128)
	b = append(b, "iotwatch-episode-v1\x00"...)
	for _, s := range [...]string{a.UserID, a.DeviceID, string(a.Rule)} {
		b = append(b, s...)
		b = append(b, 0)
	}
	b = strconv.AppendInt(b, EpisodeStart(a, known), 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func rank(s alert.Severity) int {
	if s == alert.Violation {
		return 2
	}
	return 1
}
