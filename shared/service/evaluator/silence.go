package evaluator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
)

// DueDevice is a device whose silence or silence reminder has fallen due, as a store's due index
// lists it: At is when it fell due (the check's lag is the oldest of these).
type DueDevice struct {
	ID string
	At time.Time
}

// CheckSilence moves the clock of the given devices to now (the wall clock deployed, or a
// watermark for a replay): each opens the silences that are due and emits the silence reminders
// that are (DESIGN.md, "device_silent"). It goes through the same store, publisher and
// conditional state writes as Evaluate, so a reading that arrives at the same moment and the
// check cannot both win: in one Service they take turns on a device (deviceLocks), so the second
// reads what the first wrote and raises nothing twice; between processes (the functions on AWS)
// the loser's write is refused (ErrConflict) and its work is done again (the check at its next
// round, the reading by its retry), with the same alert ids.
func (s *Service) CheckSilence(ctx context.Context, ids []string, now time.Time) (Stats, error) {
	start := s.cfg.Now()
	st := Stats{Rejected: map[reading.Reason]int{}, Alerts: map[AlertKey]int{}}
	var (
		mu   sync.Mutex
		errs []error
	)
	// Devices are independent: up to LoadConcurrency of them at once, as Evaluate loads them.
	checks := newWorkers(s.cfg.LoadConcurrency)
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		checks.Go(func() {
			var one Stats
			one.Alerts = map[AlertKey]int{}
			err := s.checkOne(ctx, id, now, &one)
			mu.Lock()
			defer mu.Unlock()
			st.StateWrites += one.StateWrites
			st.PublishedUncommitted += one.PublishedUncommitted
			st.DevicesLoaded += one.DevicesLoaded
			st.DueLag = max(st.DueLag, one.DueLag)
			for k, n := range one.Alerts {
				st.Alerts[k] += n
			}
			if err != nil {
				st.FailedDevices++
				if errors.Is(err, ErrConflict) {
					st.StateConflicts++
				}
				errs = append(errs, err)
			}
		})
	}
	checks.Wait() // the errors are collected in errs
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("silence check stopped: %w", err))
	}
	st.Duration = s.cfg.Now().Sub(start)
	if s.observe != nil {
		s.observe(st)
	}
	return st, errors.Join(errs...)
}

func (s *Service) checkOne(ctx context.Context, id string, now time.Time, st *Stats) error {
	if user, ok := digestUser(id); ok {
		if s.cfg.Held == nil {
			return nil
		}
		return s.sendDigest(ctx, user, now, st)
	}
	release, err := s.devices.lock(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("waiting for device %s: %w", id, err)
	}
	defer release()
	dev, err := s.store.LoadDevice(ctx, id)
	if err != nil {
		return fmt.Errorf("loading device %s: %w", id, err)
	}
	st.DevicesLoaded++
	if dev.Info.ID == "" {
		dev.Info.ID = id
	}
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		return fmt.Errorf("reading the metrics catalog: %w", err)
	}
	rules := dev.InForce()
	d := alarm.NewRules(&dev.State.Alarm, dev.Info.ID, rules, cat)
	if at, ok := d.NextDue(); ok && !at.After(now) && now.Sub(at) > st.DueLag {
		st.DueLag = now.Sub(at)
	}
	var notices []Notice
	d.Advance(now, func(a alert.Alert) { notices = append(notices, Notice{Alert: a, Device: dev.Info, Catalog: cat}) })
	if !d.Finish() || len(notices) == 0 {
		return nil
	}
	dev.State.Due = indexedDue(d, rules)
	suppress(notices, &dev)
	s.addEpisodes(notices, &dev.State.Alarm, s.cfg.Now()) // links sent now, whatever the silence clock says
	s.holdForQuietHours(ctx, notices)
	for i, err := range s.publisher.Publish(ctx, notices) {
		if err != nil {
			return fmt.Errorf("publishing alert %s: %w", notices[i].Alert.AlertID, err)
		}
	}
	owner := &group{}
	owners := make([]*group, len(notices))
	for i := range owners {
		owners[i] = owner
	}
	if s.hold(ctx, notices, owners, st); owner.err != nil {
		return owner.err
	}
	if _, err := s.store.SaveState(ctx, id, dev.State); err != nil {
		st.PublishedUncommitted += len(notices)
		return fmt.Errorf("saving alarm state of %s: %w", id, err)
	}
	st.StateWrites++
	for _, n := range notices {
		st.Alerts[AlertKey{n.Alert.Kind, n.Alert.Severity}]++
	}
	return nil
}

// indexedDue is the Due a store indexes for d: its NextDue rounded down to a grid of half the
// shortest silent_seconds or remind_seconds of its configs (at least a minute). Rounding down
// never makes a silence late: the check may load a device up to one grid step early, find
// nothing due and write nothing, and load it again at its next run. In exchange, a device that
// reports more often than every silent_seconds/2 never looks due, and its index key changes once
// a grid step instead of at every state write: for readings every minute and silent_seconds
// 600, one write in five updates the index.
func indexedDue(d *alarm.Device, rules []rule.InForce) time.Time {
	at, ok := d.NextDue()
	if !ok {
		return time.Time{}
	}
	var step int64
	for _, r := range rules {
		if r.Kind != rule.Silent {
			continue
		}
		for _, s := range []int64{int64(r.Warning.V), r.RemindSeconds} {
			if s > 0 && (step == 0 || s/2 < step) {
				step = s / 2
			}
		}
	}
	step = max(step, 60)
	return time.Unix(at.Unix()-mod(at.Unix(), step), 0).UTC()
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }
