package dashboard

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// silentAfter is how long without a reading makes a device stand out on the overview when its
// thresholds set no device_silent rule (whose own time then decides).
const silentAfter = 15 * time.Minute

// DeviceRow is one device on the overview.
type DeviceRow struct {
	ID, Label, Location string
	LastSeen            time.Time // zero: none in the last day
	Approx              bool      // LastSeen is the start of the hour of the last reading (from gold)
	LastHour            int64     // readings in the hour before now
	Health              *float64  // % of the expected readings over the last 24 hours
	Warning, Violation  int       // open episodes by severity
	Temps               []*float64
	Silent, Stuck       bool
}

// Overview is the overview page's data.
type Overview struct {
	Devices                   []DeviceRow
	Reporting, Silent, Stuck  int
	OpenWarning, OpenViolated int
}

// overviewData reads the overview: the last two hours of bronze (last seen, readings in the last
// hour), the last 24 hours of gold (health, the temperature sparkline), 30 days of alerts (the
// episodes open now), and the live states when the pipeline runs.
func (s *Server) overviewData(ctx context.Context, now time.Time) (Overview, error) {
	rows := map[string]*DeviceRow{}
	get := func(id string) *DeviceRow {
		r := rows[id]
		if r == nil {
			r = &DeviceRow{ID: id, Label: s.label(id), Location: s.devices[id].Location, Temps: make([]*float64, 24)}
			rows[id] = r
		}
		return r
	}
	for id := range s.devices {
		get(id)
	}
	// The 24 hours before the current one (which is not aggregated before it is over).
	dayStart := now.Truncate(time.Hour).Add(-24 * time.Hour)
	type acc struct{ readings, expected int64 }
	sums := map[string]*acc{}
	hours := map[time.Time]bool{} // the hours aggregated, of any device
	found, err := s.goldHours(ctx, dayStart, dayStart.Add(24*time.Hour), func(g goldRow) {
		r := get(g.device)
		hours[g.hour] = true
		if i := int(g.hour.Sub(dayStart) / time.Hour); i >= 0 && i < 24 {
			r.Temps[i] = null(g.temp)
		}
		if g.hour.After(r.LastSeen) {
			r.LastSeen, r.Approx = g.hour, true // some time in that hour
		}
		a := sums[g.device]
		if a == nil {
			a = &acc{}
			sums[g.device] = a
		}
		a.readings += g.readings
		a.expected = max(a.expected, g.expected) // an hour's; an hour with no reading has no row
	})
	if err != nil {
		return Overview{}, err
	}
	if found {
		var fleetPerHour int64
		for _, a := range sums {
			fleetPerHour = max(fleetPerHour, a.expected)
		}
		// Every hour the lake aggregated counts: one in which the device sent nothing has no row
		// of its own, and counts as none received; a registered device silent all day has 0 %.
		for id := range rows {
			a := sums[id]
			if a == nil {
				if _, registered := s.devices[id]; !registered {
					continue
				}
				a = &acc{expected: fleetPerHour}
			}
			if h, ok := aggregate.Health(a.readings, int64(len(hours))*a.expected); ok {
				get(id).Health = &h
			}
		}
	}
	if files := s.files("bronze", now.Add(-2*time.Hour), now.Add(time.Hour), ".json.gz"); len(files) > 0 {
		err := s.query(ctx, "recent readings", "SELECT device_id, max(ts), count(*) FILTER (WHERE ts >= ?) FROM ("+bronzeSQL(files)+
			") WHERE ts IS NOT NULL AND ts <= ? AND device_id IS NOT NULL GROUP BY device_id", []any{now.Add(-time.Hour), now.Add(time.Minute)},
			func(rs scanner) error {
				var id string
				var last time.Time
				var n int64
				if err := rs.Scan(&id, &last, &n); err != nil {
					return err
				}
				r := get(id)
				r.LastSeen, r.LastHour, r.Approx = last.UTC(), n, false
				return nil
			})
		if err != nil {
			return Overview{}, err
		}
	}
	eps, err := s.episodes(ctx, now.Add(-30*24*time.Hour), now, "")
	if err != nil {
		return Overview{}, err
	}
	for _, e := range eps {
		if !e.Open() {
			continue
		}
		r := get(e.Device)
		if e.Severity == string(alert.Violation) {
			r.Violation++
		} else {
			r.Warning++
		}
		switch alert.Rule(e.Rule) {
		case alert.DeviceSilent:
			r.Silent = true
		case alert.SensorStuck:
			r.Stuck = true
		}
	}
	if s.cfg.Live != nil {
		for id, st := range s.cfg.Live.States() {
			if st.Alarm.HasLast {
				if t := time.Unix(0, st.Alarm.Last).UTC(); t.After(get(id).LastSeen) {
					get(id).LastSeen, get(id).Approx = t, false
				}
			}
		}
	}
	var out Overview
	for _, r := range rows {
		if r.LastSeen.IsZero() || r.Approx && now.Sub(r.LastSeen) > time.Hour+silentAfter || !r.Approx && now.Sub(r.LastSeen) > silentAfter {
			r.Silent = true
		}
		if r.Silent {
			out.Silent++
		} else {
			out.Reporting++
		}
		if r.Stuck {
			out.Stuck++
		}
		out.OpenWarning += r.Warning
		out.OpenViolated += r.Violation
		out.Devices = append(out.Devices, *r)
	}
	// Those that need a look first: silent or stuck, then by open violations, then by id.
	sort.Slice(out.Devices, func(i, j int) bool {
		a, b := out.Devices[i], out.Devices[j]
		if (a.Silent || a.Stuck) != (b.Silent || b.Stuck) {
			return a.Silent || a.Stuck
		}
		if a.Violation != b.Violation {
			return a.Violation > b.Violation
		}
		return a.ID < b.ID
	})
	return out, nil
}

func (s *Server) overview(r *http.Request, now time.Time) (string, any, error) {
	o, err := s.overviewData(r.Context(), now)
	return "Overview", o, err
}
