package lakeview

import (
	"context"
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
	// Aggregated says the lake holds an hour of the last day's hourly metrics, which health and
	// the sparklines come from: a run's first hour has none until it is over and aggregated.
	Aggregated bool
}

// overview reads the overview: the last 24 hours of gold (health, the temperature sparkline),
// the last two hours of bronze (last seen, readings in the last hour), 30 days of alerts (the
// episodes open now), and the live states when the pipeline runs.
func (r *Reader) overview(ctx context.Context, now time.Time) (Overview, error) {
	rows := r.newDeviceRows()
	aggregated, err := r.lastDay(ctx, now, rows)
	if err != nil {
		return Overview{}, err
	}
	if err := r.recentReadings(ctx, now, rows); err != nil {
		return Overview{}, err
	}
	if err := r.openEpisodes(ctx, now, rows); err != nil {
		return Overview{}, err
	}
	r.liveStates(rows)
	o := summarize(now, rows)
	o.Aggregated = aggregated
	return o, nil
}

// deviceRows are the overview's rows being read: every registered device, and every one the
// lake names.
type deviceRows struct {
	r  *Reader
	by map[string]*DeviceRow
}

func (r *Reader) newDeviceRows() deviceRows {
	rows := deviceRows{r: r, by: map[string]*DeviceRow{}}
	for id := range r.devices {
		rows.get(id)
	}
	return rows
}

// get is the device's row, added when it has none yet.
func (rows deviceRows) get(id string) *DeviceRow {
	d := rows.by[id]
	if d == nil {
		d = &DeviceRow{ID: id, Label: rows.r.Label(id), Location: rows.r.devices[id].Location, Temps: make([]*float64, 24)}
		rows.by[id] = d
	}
	return d
}

// healthSum is a device's readings over the day, and the readings it should send an hour.
type healthSum struct{ readings, expected int64 }

// lastDay reads the 24 hours of gold before the current one (which is not aggregated before it
// is over): the temperature sparkline, the hour each device was last seen in, and its health;
// and whether it found an hour.
func (r *Reader) lastDay(ctx context.Context, now time.Time, rows deviceRows) (bool, error) {
	dayStart := now.Truncate(time.Hour).Add(-24 * time.Hour)
	sums := map[string]*healthSum{}
	hours := map[time.Time]bool{} // the hours aggregated, of any device
	found, err := r.goldHours(ctx, dayStart, dayStart.Add(24*time.Hour), func(g goldRow) {
		d := rows.get(g.device)
		hours[g.hour] = true
		if i := int(g.hour.Sub(dayStart) / time.Hour); i >= 0 && i < 24 {
			d.Temps[i] = null(g.temp)
		}
		if g.hour.After(d.LastSeen) {
			d.LastSeen, d.Approx = g.hour, true // some time in that hour
		}
		a := sums[g.device]
		if a == nil {
			a = &healthSum{}
			sums[g.device] = a
		}
		a.readings += g.readings
		a.expected = max(a.expected, g.expected) // an hour's; an hour with no reading has no row
	})
	if err != nil || !found {
		return false, err
	}
	rows.health(sums, int64(len(hours)))
	return len(hours) > 0, nil
}

// health sets each device's share of the readings expected over the hours aggregated. Every hour
// the lake aggregated counts: one in which the device sent nothing has no row of its own, and
// counts as none received; a registered device silent all day has 0 %.
func (rows deviceRows) health(sums map[string]*healthSum, hours int64) {
	var fleetPerHour int64
	for _, a := range sums {
		fleetPerHour = max(fleetPerHour, a.expected)
	}
	for id := range rows.by {
		a := sums[id]
		if a == nil {
			if _, registered := rows.r.devices[id]; !registered {
				continue
			}
			a = &healthSum{expected: fleetPerHour}
		}
		if h, ok := aggregate.Health(a.readings, hours*a.expected); ok {
			rows.get(id).Health = &h
		}
	}
}

// recentReadings reads the last two hours of bronze: when each device last reported, and its
// readings in the hour before now.
func (r *Reader) recentReadings(ctx context.Context, now time.Time, rows deviceRows) error {
	files := r.files("bronze", now.Add(-2*time.Hour), now.Add(time.Hour), ".json.gz")
	if len(files) == 0 {
		return nil
	}
	return r.query(ctx, "recent readings", "SELECT device_id, max(ts), count(*) FILTER (WHERE ts >= ?) FROM ("+bronzeSQL(files)+
		") WHERE ts IS NOT NULL AND ts <= ? AND device_id IS NOT NULL GROUP BY device_id", []any{now.Add(-time.Hour), now.Add(time.Minute)},
		func(rs scanner) error {
			var id string
			var last time.Time
			var n int64
			if err := rs.Scan(&id, &last, &n); err != nil {
				return err
			}
			d := rows.get(id)
			d.LastSeen, d.LastHour, d.Approx = last.UTC(), n, false
			return nil
		})
}

// openEpisodes counts each device's episodes open now by severity, and marks the silent and
// stuck ones.
func (r *Reader) openEpisodes(ctx context.Context, now time.Time, rows deviceRows) error {
	eps, err := r.episodes(ctx, now.Add(-30*24*time.Hour), now, "")
	if err != nil {
		return err
	}
	for _, e := range eps {
		if !e.Open() {
			continue
		}
		d := rows.get(e.Device)
		if e.Severity == string(alert.Violation) {
			d.Violation++
		} else {
			d.Warning++
		}
		switch alert.Rule(e.Rule) {
		case alert.DeviceSilent:
			d.Silent = true
		case alert.SensorStuck:
			d.Stuck = true
		}
	}
	return nil
}

// liveStates takes a running pipeline's last reading of each device where it is newer than the
// lake's (still in the lake writer's buffer).
func (r *Reader) liveStates(rows deviceRows) {
	if r.cfg.States == nil {
		return
	}
	for id, st := range r.cfg.States.States() {
		if st.Alarm.HasLast {
			if t := time.Unix(0, st.Alarm.Last).UTC(); t.After(rows.get(id).LastSeen) {
				rows.get(id).LastSeen, rows.get(id).Approx = t, false
			}
		}
	}
}

// summarize marks the devices silent for longer than silentAfter, counts the fleet, and orders
// the rows: those that need a look first (silent or stuck), then by open violations, then by id.
func summarize(now time.Time, rows deviceRows) Overview {
	var out Overview
	for _, d := range rows.by {
		if d.LastSeen.IsZero() || d.Approx && now.Sub(d.LastSeen) > time.Hour+silentAfter || !d.Approx && now.Sub(d.LastSeen) > silentAfter {
			d.Silent = true
		}
		if d.Silent {
			out.Silent++
		} else {
			out.Reporting++
		}
		if d.Stuck {
			out.Stuck++
		}
		out.OpenWarning += d.Warning
		out.OpenViolated += d.Violation
		out.Devices = append(out.Devices, *d)
	}
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
	return out
}
