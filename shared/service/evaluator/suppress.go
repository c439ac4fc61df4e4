package evaluator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/user"
)

// suppress marks the notices that are not to be sent to their user: those of a snooze the
// device's state holds (DESIGN.md, "Acknowledge and snooze"). Every notice is still published
// (the lake keeps it, with its reason), and its id is unchanged: a user's subscription takes only
// the alerts that are not suppressed.
func suppress(notices []Notice, dev *Device) {
	st := &dev.State.Alarm
	if len(st.Snoozes) == 0 {
		return
	}
	for i := range notices {
		a := &notices[i].Alert
		if st.Snoozed(a.UserID, a.Rule, a.AlertTime) {
			a.Suppressed = alert.Snoozed
		}
	}
	if st.HasLast {
		st.DropExpiredSnoozes(timeOf(st.Last)) // ended by the device's own clock
	}
}

func timeOf(unixNano int64) time.Time { return time.Unix(0, unixNano).UTC() }

// holdForQuietHours gives the notices their user's preferences (for the texts' units and time
// zone) and marks those that fall in their user's quiet hours and are below the user's
// quiet_min_severity (alert.QuietHours; a snooze, already marked, comes first). It reads the
// preferences of the users it has no fresh copy of in one request, and none when the batch
// raised no alert. If they cannot be read, nothing is held (an alert sent during quiet hours is
// better than one held that should have gone out) and the texts are metric and UTC.
func (s *Service) holdForQuietHours(ctx context.Context, notices []Notice) {
	if s.cfg.Users == nil || len(notices) == 0 {
		return
	}
	prefs, err := s.usersOf(ctx, notices)
	if err != nil {
		s.log.WarnContext(ctx, "reading users' preferences failed: no alert is held for quiet hours", "err", err)
	}
	for i := range notices {
		a := &notices[i].Alert
		u, ok := prefs[a.UserID]
		if !ok {
			continue
		}
		notices[i].User = &u
		if a.Suppressed == "" && u.Holds(a.Severity, a.AlertTime) {
			a.Suppressed = alert.QuietHours
		}
	}
}

// usersOf returns the preferences of the notices' users, from the cache while fresh (CacheTTL,
// as thresholds), the others in one LoadUsers.
func (s *Service) usersOf(ctx context.Context, notices []Notice) (map[string]user.User, error) {
	now := s.cfg.Now()
	out := map[string]user.User{}
	var missing []string
	s.mu.Lock()
	for i := range notices {
		id := notices[i].Alert.UserID
		if _, done := out[id]; done {
			continue
		}
		if c, ok := s.users[id]; ok && s.cfg.CacheTTL > 0 && now.Sub(c.at) < s.cfg.CacheTTL {
			if c.known {
				out[id] = c.u
			}
			continue
		}
		if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	loaded, err := s.cfg.Users.LoadUsers(ctx, missing)
	if err != nil {
		return out, fmt.Errorf("reading the preferences of %d users: %w", len(missing), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range missing {
		u, ok := loaded[id]
		s.users[id] = cachedUser{u: u, known: ok, at: now}
		if ok {
			out[id] = u
		}
	}
	return out, nil
}

// addEpisodes names the episode of each notice of OPEN, ESCALATE, REMIND and RESOLVE
// (Notice.EpisodeStartMs: its OPEN's window start, which OPEN, REMIND and RESOLVE carry, and an
// ESCALATE takes from the OPEN before it, in the batch or the state's open episode), and gives
// those of OPEN, ESCALATE and REMIND their one-click links, signed for that episode. Only an
// alert whose episode is still open after the batch gets links (the others would have nothing to
// act on). Links are dated from sent, when they are sent (the evaluation's clock), not from the
// alert's time (the reading's event time): DESIGN.md, "Links".
func (s *Service) addEpisodes(notices []Notice, st *alarm.DeviceState, sent time.Time) {
	ruleState := func(a *alert.Alert) *alarm.RuleState {
		rule, err := alarm.ParseRule(string(a.Rule))
		if err != nil {
			return nil
		}
		return st.Rules[alarm.RuleKey(rule, a.UserID)]
	}
	for i := range notices {
		a := &notices[i].Alert
		var start int64
		switch a.Kind {
		case alert.Open, alert.Remind, alert.Resolve:
			start = a.WindowStartMs
		case alert.Escalate:
			start = openedBefore(notices[:i], a)
			if start == 0 {
				if rs := ruleState(a); rs != nil && rs.Open != alarm.OK {
					start = rs.OpenStart / int64(time.Millisecond)
				}
			}
		}
		if start == 0 {
			continue
		}
		notices[i].EpisodeStartMs = start
		if s.cfg.Linker == nil || a.Kind == alert.Resolve {
			continue
		}
		if rs := ruleState(a); rs == nil || rs.Open == alarm.OK || rs.OpenStart/int64(time.Millisecond) != start {
			continue // the episode closed in the same batch
		}
		notices[i].AckLink, notices[i].SnoozeLink = s.cfg.Linker.LinksFor(a, start, sent)
	}
}

// openedBefore is the start of the episode of an ESCALATE among the notices before it: the window
// start of the latest OPEN or REMIND of its user and rule, 0 when there is none or a RESOLVE came
// after it (a scan back: a device has a few notices a batch, and ESCALATEs are rare).
func openedBefore(before []Notice, esc *alert.Alert) int64 {
	for j := len(before) - 1; j >= 0; j-- {
		b := &before[j].Alert
		if b.UserID != esc.UserID || b.Rule != esc.Rule {
			continue
		}
		switch b.Kind {
		case alert.Open, alert.Remind:
			return b.WindowStartMs
		case alert.Resolve:
			return 0
		}
	}
	return 0
}
