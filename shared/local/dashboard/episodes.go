package dashboard

import (
	"context"
	"database/sql"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
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
	Threshold                  *float64
	Notices                    int    // OPEN, ESCALATE, REMIND and RESOLVE alerts
	AlertID                    string // its OPEN's id
	AckedBy                    string // who acknowledged it ("" when no one did)
	SnoozedUntil               time.Time
}

// Open says whether the episode has not resolved.
func (e *Episode) Open() bool { return e.End.IsZero() }

// Episodes rebuilds the episodes from alert rows: per user, device and rule, an OPEN starts one,
// ESCALATE raises its severity, RESOLVE ends it, ACK marks it acknowledged, SNOOZE snoozes every
// episode of the user on the device (of the rule, or of every rule when the row has none). Rows
// before an episode's OPEN (the lake read from a later hour) open it at their time. The result is
// by start time, newest first.
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
				if until, ok := snoozes[k]; ok && until.After(r.At) {
					e.SnoozedUntil = until
				} else if until, ok := snoozes[key{r.User, r.Device, ""}]; ok && until.After(r.At) {
					e.SnoozedUntil = until
				}
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
		case "ACK":
			if e := open[k]; e != nil {
				e.AckedBy = r.User
			}
		case "SNOOZE":
			until := time.UnixMilli(r.WindowEndMs).UTC()
			snoozes[k] = until
			for ek, e := range open {
				if ek.user == r.User && ek.device == r.Device && (r.Rule == "" || ek.rule == r.Rule) {
					e.SnoozedUntil = until
				}
			}
		case "UNSNOOZE":
			delete(snoozes, k)
			for ek, e := range open {
				if ek.user == r.User && ek.device == r.Device && (r.Rule == "" || ek.rule == r.Rule) {
					e.SnoozedUntil = time.Time{}
				}
			}
		}
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
func (s *Server) alertRows(ctx context.Context, from, to time.Time, device string) ([]Row, error) {
	rel, err := s.rows(ctx, s.alertC, from, to)
	if rel == "" || err != nil {
		return nil, err
	}
	q := "SELECT alert_id, kind, alert_at, user_id, device_id, rule, severity, metric, observed_value, threshold_value, window_start_ms, window_end_ms FROM " + rel + " WHERE alert_at IS NOT NULL"
	var args []any
	if device != "" {
		q += " AND device_id = ?"
		args = append(args, device)
	}
	var out []Row
	err = s.query(ctx, "the alerts", q, args, func(rs scanner) error {
		var r Row
		var id, metric, user, dev, rule, sev sql.NullString
		var obs, thr sql.NullFloat64
		var ws, we sql.NullInt64
		if err := rs.Scan(&id, &r.Kind, &r.At, &user, &dev, &rule, &sev, &metric, &obs, &thr, &ws, &we); err != nil {
			return err
		}
		r.ID, r.User, r.Device, r.Rule, r.Severity, r.Metric = id.String, user.String, dev.String, rule.String, sev.String, metric.String
		r.Observed, r.Threshold, r.WindowStartMs, r.WindowEndMs = null(obs), null(thr), ws.Int64, we.Int64
		r.At = r.At.UTC()
		out = append(out, r)
		return nil
	})
	return out, err
}
