package alarm

import (
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// What people do to their alarms (DESIGN.md, "Acknowledge and snooze"). Acknowledging changes
// which alerts exist (an acknowledged episode makes no REMIND until it escalates); snoozing does
// not: a snoozed alert is still made, stored and counted, and only not sent (Snoozed says so).

// Ack acknowledges the user's open episode of rule: it makes no REMIND until it escalates
// (ESCALATE and RESOLVE still go out). It reports false when no such episode is open, or it was
// acknowledged already.
func (s *DeviceState) Ack(rule Rule, user string) bool {
	rs := s.Rules[RuleKey(rule, user)]
	if rs == nil || rs.Open == OK || rs.Acked() {
		return false
	}
	rs.Flags |= acked
	return true
}

// Snooze holds the notifications of the user's alerts of this device (of one rule, or of every
// rule when rule is "") until until: they are made and stored as usual, with suppressed
// "snoozed". A snooze of the same user and rule replaces the earlier one.
func (s *DeviceState) Snooze(user string, rule alert.Rule, until time.Time) {
	s.SnoozeVia(user, rule, until, "")
}

// SnoozeVia is Snooze through a one-click link's token, which SnoozedVia then recognizes.
func (s *DeviceState) SnoozeVia(user string, rule alert.Rule, until time.Time, token string) {
	s.Unsnooze(user, rule)
	s.Snoozes = append(s.Snoozes, Snooze{User: user, Rule: string(rule), Until: until.UnixNano(), Token: token})
	sort.Slice(s.Snoozes, func(i, j int) bool {
		a, b := s.Snoozes[i], s.Snoozes[j]
		return a.User < b.User || a.User == b.User && a.Rule < b.Rule
	})
}

// Unsnooze ends the user's snooze of rule ("" : the snooze of every rule; a snooze of one rule
// stays). It reports whether there was one.
func (s *DeviceState) Unsnooze(user string, rule alert.Rule) bool {
	kept := s.Snoozes[:0]
	found := false
	for _, z := range s.Snoozes {
		if z.User == user && z.Rule == string(rule) {
			found = true
			continue
		}
		kept = append(kept, z)
	}
	s.Snoozes = kept
	if len(s.Snoozes) == 0 {
		s.Snoozes = nil
	}
	return found
}

// Snoozed reports whether an alert of the user and rule at time at falls in a snooze (of that
// rule, or of the whole device).
func (s *DeviceState) Snoozed(user string, rule alert.Rule, at time.Time) bool {
	t := at.UnixNano()
	for _, z := range s.Snoozes {
		if z.User == user && (z.Rule == "" || z.Rule == string(rule)) && t < z.Until {
			return true
		}
	}
	return false
}

// SnoozedUntil is when the latest snooze covering the user's rule that is running at now ends;
// false when none is.
func (s *DeviceState) SnoozedUntil(user string, rule alert.Rule, now time.Time) (time.Time, bool) {
	var until int64
	for _, z := range s.Snoozes {
		if z.User == user && (z.Rule == "" || z.Rule == string(rule)) && z.Until > now.UnixNano() && z.Until > until {
			until = z.Until
		}
	}
	return time.Unix(0, until).UTC(), until > 0
}

// SnoozedVia reports whether a running snooze was made by the link token.
func (s *DeviceState) SnoozedVia(token string) bool {
	for _, z := range s.Snoozes {
		if token != "" && z.Token == token {
			return true
		}
	}
	return false
}

// LinkUsed reports whether a one-click link's code was used on this device.
func (s *DeviceState) LinkUsed(code string) bool {
	for _, u := range s.UsedLinks {
		if u.Code == code {
			return true
		}
	}
	return false
}

// UseLink records a link's code as used until it would have expired, and forgets the codes
// whose links have expired by now.
func (s *DeviceState) UseLink(code string, until, now time.Time) {
	kept := s.UsedLinks[:0]
	for _, u := range s.UsedLinks {
		if u.Until > now.UnixNano() {
			kept = append(kept, u)
		}
	}
	s.UsedLinks = append(kept, UsedLink{Code: code, Until: until.UnixNano()})
}

// DropExpiredSnoozes forgets the snoozes that ended by now.
func (s *DeviceState) DropExpiredSnoozes(now time.Time) {
	kept := s.Snoozes[:0]
	for _, z := range s.Snoozes {
		if z.Until > now.UnixNano() {
			kept = append(kept, z)
		}
	}
	s.Snoozes = kept
	if len(s.Snoozes) == 0 {
		s.Snoozes = nil
	}
}

// FindAlert finds the open episode an alert id belongs to, by its OPEN or its last OPEN,
// ESCALATE or REMIND (an older REMIND's id is not kept).
func (s *DeviceState) FindAlert(id string) (rule Rule, user string, ok bool) {
	if len(id) < AlertIDPrefix {
		return "", "", false
	}
	p := id[:AlertIDPrefix]
	for k, rs := range s.Rules {
		if rs.Open == OK || (rs.OpenID != p && rs.NoticeID != p) {
			continue
		}
		name, u, found := strings.Cut(k, ":")
		r, err := ParseRule(name)
		if found && err == nil {
			return r, u, true
		}
	}
	return "", "", false
}

// Episode is one open episode of a device, as people see it.
type Episode struct {
	User     string
	Rule     alert.Rule
	Severity alert.Severity
	Since    time.Time // the OPEN's window start
	Acked    bool
	// LastNotice is the time of its last OPEN, ESCALATE or REMIND.
	LastNotice time.Time
}

// Episodes lists the device's open episodes, by user and rule.
func (s *DeviceState) Episodes() []Episode {
	var out []Episode
	for k, rs := range s.Rules {
		if rs.Open == OK {
			continue
		}
		name, user, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		out = append(out, Episode{User: user, Rule: alert.Rule(name), Severity: rs.Open.Severity(),
			Since: time.Unix(0, rs.OpenStart).UTC(), Acked: rs.Acked(), LastNotice: time.Unix(0, rs.LastNotice).UTC()})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].User < out[j].User || out[i].User == out[j].User && out[i].Rule < out[j].Rule
	})
	return out
}
