package evaluator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// Held keeps the alerts held for quiet hours until their user's digest (DynamoDB on AWS, files on
// one machine). Config.Held; nil: held alerts are only in the lake.
type Held interface {
	// Hold keeps held alerts (of one or more users; keeping one again changes nothing) and makes
	// each user's digest due at due[user], or keeps it due earlier if it was: the stores index it
	// with the devices' due times, so that the silence check finds it (as HeldPrefix + user).
	Hold(ctx context.Context, alerts []alert.Alert, due map[string]time.Time) error
	// Held returns what is kept for a user.
	Held(ctx context.Context, user string) ([]alert.Alert, error)
	// Release forgets the given alerts of a user and makes the user's next digest due at next
	// (the zero time: no digest due).
	Release(ctx context.Context, user string, ids []string, next time.Time) error
}

// HeldPrefix starts the id under which a user's digest falls due among the devices (a device id
// cannot start with '#').
const HeldPrefix = "#HELD#"

// hold keeps the notices held for quiet hours (owners[i] is the device group of notices[i]), their users' digests due at the end of those quiet
// hours. The devices whose held alerts could not be kept fail (retried: the same alerts, the same
// ids), as when a publish fails, so that no held alert is lost.
func (s *Service) hold(ctx context.Context, notices []Notice, owners []*group, st *Stats) {
	if s.cfg.Held == nil {
		return
	}
	var held []alert.Alert
	var heldOwners []*group
	due := map[string]time.Time{}
	for i := range notices {
		a := notices[i].Alert
		if a.Suppressed != alert.QuietHours || owners[i].err != nil {
			continue
		}
		held = append(held, a)
		heldOwners = append(heldOwners, owners[i])
		end, ok := s.quietEnd(ctx, a) // read just now to hold it: cached
		if !ok {
			end = a.AlertTime
		}
		if due[a.UserID].IsZero() || end.Before(due[a.UserID]) {
			due[a.UserID] = end
		}
	}
	if len(held) == 0 {
		return
	}
	if err := s.cfg.Held.Hold(ctx, held, due); err != nil {
		err = fmt.Errorf("keeping %d alerts held for quiet hours: %w", len(held), err)
		failed := map[*group]bool{}
		for _, g := range heldOwners {
			if g.err == nil {
				g.err = err
				failed[g] = true
			}
		}
		// Their devices' other alerts went out already and go out again with the retry: the
		// first duplicate case of the package doc.
		for i, g := range owners {
			if failed[g] && notices[i].Alert.Suppressed == "" {
				st.PublishedUncommitted++
			}
		}
	}
}

// quietEnd is when the quiet hours an alert was held in end (its user's digest is due then):
// false when the user's preferences cannot be read now; at the alert's own time for a user who
// no longer has preferences or quiet hours (what was held goes out at once).
func (s *Service) quietEnd(ctx context.Context, a alert.Alert) (time.Time, bool) {
	if s.cfg.Users == nil {
		return a.AlertTime, true
	}
	prefs, err := s.usersOf(ctx, []Notice{{Alert: a}})
	if err != nil {
		return time.Time{}, false
	}
	if u, ok := prefs[a.UserID]; ok && u.HasQuiet() {
		return u.QuietEnd(a.AlertTime), true
	}
	return a.AlertTime, true
}

// MaxDigestAlerts bounds what one digest lists (SNS takes messages up to 256 KB); what is
// left goes in the next, at once.
const MaxDigestAlerts = 200

// sendDigest publishes one user's digest of the alerts held for them until the end of the quiet
// hours the first of them fell in, and forgets those. The digest is an alert of kind DIGEST
// (alert.NewDigest) whose id depends on what it lists: a retry after a failed Release sends the
// same digest, with the same id.
func (s *Service) sendDigest(ctx context.Context, user string, now time.Time, st *Stats) error {
	held, err := s.cfg.Held.Held(ctx, user)
	if err != nil {
		return fmt.Errorf("reading the alerts held for %s: %w", user, err)
	}
	sort.Slice(held, func(i, j int) bool { return held[i].AlertTime.Before(held[j].AlertTime) })
	if len(held) == 0 {
		return s.cfg.Held.Release(ctx, user, nil, time.Time{})
	}
	// One digest a stretch of quiet hours, each listing what was held until it was due; after a
	// long gap (a replay, an outage) several may be due at once.
	for len(held) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		at, ok := s.quietEnd(ctx, held[0])
		if !ok {
			return fmt.Errorf("digest of %s: the user's quiet hours cannot be read now; the next check tries again", user)
		}
		if at.Before(held[0].AlertTime) {
			at = held[0].AlertTime // a digest never predates what it lists
		}
		if at.After(now) {
			// Not due yet (found early, or held meanwhile): the marker moves to when it is.
			return s.cfg.Held.Release(ctx, user, nil, at)
		}
		n := 1 // at least the first: each round makes progress
		for n < len(held) && n < MaxDigestAlerts && !held[n].AlertTime.After(at) {
			n++
		}
		included, later := held[:n], held[n:]
		digest := alert.NewDigest(user, at, included)
		cat, err := s.store.Catalog(ctx)
		if err != nil {
			return fmt.Errorf("digest of %s: reading the metrics catalog: %w", user, err)
		}
		notice := Notice{Alert: digest, Held: included, Catalog: cat}
		if s.cfg.Users != nil {
			if prefs, err := s.usersOf(ctx, []Notice{notice}); err == nil {
				if u, ok := prefs[user]; ok {
					notice.User = &u // read just above by quietEnd: from the cache
				}
			}
		}
		if errs := s.publisher.Publish(ctx, []Notice{notice}); errs[0] != nil {
			return fmt.Errorf("publishing the digest of %s: %w", user, errs[0])
		}
		st.Alerts[AlertKey{digest.Kind, digest.Severity}]++
		ids := make([]string, len(included))
		for i, a := range included {
			ids[i] = a.AlertID
		}
		var next time.Time
		if len(later) > 0 {
			if next, ok = s.quietEnd(ctx, later[0]); !ok {
				next = now // unknown: due at once, the next check looks again
			}
		}
		if err := s.cfg.Held.Release(ctx, user, ids, next); err != nil {
			st.PublishedUncommitted++
			return fmt.Errorf("forgetting the alerts held for %s: %w", user, err)
		}
		held = later
	}
	return nil
}

// digestUser returns the user whose digest an id of the due list names.
func digestUser(id string) (string, bool) { return strings.CutPrefix(id, HeldPrefix) }
