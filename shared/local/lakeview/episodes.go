package lakeview

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// Row is one row of the alerts table, as the pages read it.
type Row struct {
	ID, Kind, User, Device, Rule, Severity, Metric string
	At                                             time.Time
	Observed, Threshold                            *float64
	WindowStartMs, WindowEndMs                     int64
}

// Episode is one alarm episode of one user's rule on one device, from its OPEN to its RESOLVE
// (End zero while it is open), as the alerts table tells it.
type Episode struct {
	User, Device, Rule, Metric string
	Severity                   string // the highest it reached
	Start, End                 time.Time
	Peak                       *float64 // the observed value furthest past the threshold
	Unit                       string   // Peak's: the metric's, "s" (seconds silent) for device_silent
	Threshold                  *float64
	Notices                    int    // OPEN, ESCALATE, REMIND and RESOLVE alerts
	AlertID                    string // its OPEN's id
	AckedBy                    string // who acknowledged it ("" when no one did)
	SnoozedUntil               time.Time
}

// Open says whether the episode has not resolved.
func (e *Episode) Open() bool { return e.End.IsZero() }

// Episodes rebuilds the episodes from alert rows: per user, device and rule, an OPEN starts one,
// ESCALATE raises its severity, RESOLVE ends it, ACK marks it acknowledged; SNOOZE and UNSNOOZE
// set and end a user's snooze of a rule on the device (of every rule when the row has none), and
// an open episode is snoozed until the later of its rule's and its device's. Rows before an
// episode's OPEN (the lake read from a later hour) open it at their time. The result is by start
// time, newest first.
func Episodes(rows []Row) []Episode {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].At.Before(rows[j].At) })
	type key struct{ user, device, rule string }
	open := map[key]*Episode{}
	var done []*Episode
	snoozes := map[key]time.Time{}
	for _, r := range rows {
		k := key{r.User, r.Device, r.Rule}
		switch alert.Kind(r.Kind) {
		case alert.Open, alert.Escalate, alert.Remind, alert.Resolve:
			e := open[k]
			if e == nil {
				e = &Episode{User: r.User, Device: r.Device, Rule: r.Rule, Metric: r.Metric, Severity: r.Severity, Start: r.At, AlertID: r.ID}
				open[k] = e
			}
			e.Notices++
			if r.Severity == string(alert.Violation) {
				e.Severity = r.Severity
			}
			if r.Threshold != nil {
				e.Threshold = r.Threshold
			}
			if r.Observed != nil && alert.Kind(r.Kind) != alert.Resolve && (e.Peak == nil || further(*r.Observed, *e.Peak, e.Rule)) {
				v := *r.Observed
				e.Peak = &v
			}
			if alert.Kind(r.Kind) == alert.Resolve {
				e.End = r.At
				done = append(done, e)
				delete(open, k)
			}
		case links.KindAck:
			if e := open[k]; e != nil {
				e.AckedBy = r.User
			}
		case links.KindSnooze: // replaces the user's earlier snooze of the same rule, as the alarm state does
			snoozes[k] = time.UnixMilli(r.WindowEndMs).UTC()
		case links.KindUnsnooze: // ends that snooze only: one of every rule, or of one rule, stays
			delete(snoozes, k)
		}
	}
	// What is snoozed is as the last rows left it: the later of the rule's snooze and the device's.
	for k, e := range open {
		until := snoozes[k]
		if all := snoozes[key{k.user, k.device, ""}]; all.After(until) {
			until = all
		}
		e.SnoozedUntil = until
	}
	out := make([]Episode, 0, len(done)+len(open))
	for _, e := range done {
		out = append(out, *e)
	}
	for _, e := range open {
		out = append(out, *e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.After(out[j].Start)
		}
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// further says whether v is further past the threshold than w for the rule (lower for a low rule).
func further(v, w float64, rule string) bool {
	if rule == string(alert.TemperatureLow) {
		return v < w
	}
	return v > w
}

// alertRows reads the alerts table's rows from `from` up to `to`, of one device when given.
func (r *Reader) alertRows(ctx context.Context, from, to time.Time, device string) ([]Row, error) {
	rel, err := r.rows(ctx, r.alertC, from, to)
	if rel == "" || err != nil {
		return nil, err
	}
	q := "SELECT alert_id, kind, alert_at, user_id, device_id, rule, severity, metric, observed_value, threshold_value, window_start_ms, window_end_ms FROM " + rel + " WHERE alert_at IS NOT NULL AND kind IS NOT NULL"
	var args []any
	if device != "" {
		q += " AND device_id = ?"
		args = append(args, device)
	}
	var out []Row
	err = r.query(ctx, "the alerts", q, args, func(rs scanner) error {
		var a Row
		var id, metric, user, dev, rule, sev sql.NullString
		var obs, thr sql.NullFloat64
		var ws, we sql.NullInt64
		if err := rs.Scan(&id, &a.Kind, &a.At, &user, &dev, &rule, &sev, &metric, &obs, &thr, &ws, &we); err != nil {
			return err
		}
		a.ID, a.User, a.Device, a.Rule, a.Severity, a.Metric = id.String, user.String, dev.String, rule.String, sev.String, metric.String
		a.Observed, a.Threshold, a.WindowStartMs, a.WindowEndMs = null(obs), null(thr), ws.Int64, we.Int64
		a.At = a.At.UTC()
		out = append(out, a)
		return nil
	})
	return out, err
}

// episodes are the episodes that overlap from..to (those open at `to` included, however old),
// from the alerts table; with a running pipeline, its states say which are open now, and which
// are acknowledged or snoozed (an action or an alert still in the lake writer's buffer).
func (r *Reader) episodes(ctx context.Context, from, to time.Time, device string) ([]Episode, error) {
	rows, err := r.alertRows(ctx, from.Add(-30*24*time.Hour), to.Add(time.Hour), device)
	if err != nil {
		return nil, err
	}
	all := Episodes(rows)
	if r.cfg.States != nil {
		all = withLive(all, links.OpenEpisodes(r.cfg.States.States(), "", device, to), to)
	}
	units, err := r.units(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		if e.Start.Before(to) && (e.Open() || e.End.After(from)) {
			e.Unit = peakUnit(units, e)
			out = append(out, e)
		}
	}
	return out, nil
}

// units is the catalog in force, read once a page (nil without one: the built-ins' units).
func (r *Reader) units(ctx context.Context) (*reading.Catalog, error) {
	if r.cfg.Catalog == nil || r.catRead {
		return r.catalog, nil
	}
	cat, err := r.cfg.Catalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the metrics catalog: %w", err)
	}
	r.catalog, r.catRead = cat, true
	return cat, nil
}

// peakUnit is the unit of an episode's peak: device_silent's is how long the device had been
// silent, in seconds; a threshold rule's, its metric's.
func peakUnit(units *reading.Catalog, e Episode) string {
	if e.Rule == string(alert.DeviceSilent) {
		return "s"
	}
	return units.Unit(e.Metric)
}

// withLive corrects the episodes the lake tells by those the run's states hold open at `to`:
// one open in the lake but not in the states has resolved since, the states' severity,
// acknowledgement and snooze are the latest, and one open only in the states is added.
func withLive(all []Episode, open []links.Episode, to time.Time) []Episode {
	type key struct{ device, user, rule string }
	live := map[key]links.Episode{}
	for _, e := range open {
		live[key{e.Device, e.User, string(e.Rule)}] = e
	}
	for i := range all {
		e := &all[i]
		if !e.Open() {
			continue
		}
		k := key{e.Device, e.User, e.Rule}
		le, ok := live[k]
		if !ok {
			// Not open in the run's states: resolved since (its RESOLVE still in the lake
			// writer's buffer). It ended by now at the latest.
			e.End = to
			continue
		}
		delete(live, k)
		if le.Severity == string(alert.Violation) {
			e.Severity = le.Severity // escalated since
		}
		if le.Acked {
			e.AckedBy = e.User
		} else {
			e.AckedBy = ""
		}
		e.SnoozedUntil = time.Time{}
		if le.SnoozedUntil != nil {
			e.SnoozedUntil = le.SnoozedUntil.UTC()
		}
	}
	for _, le := range live { // opened, its OPEN not yet in the lake
		e := Episode{User: le.User, Device: le.Device, Rule: string(le.Rule), Severity: le.Severity, Start: le.Since.UTC()}
		if le.Acked {
			e.AckedBy = le.User
		}
		if le.SnoozedUntil != nil {
			e.SnoozedUntil = le.SnoozedUntil.UTC()
		}
		all = append(all, e)
	}
	return all
}
