package lakeview

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Report is what a report of the lake over a range shows: the fleet's health, alerts by rule and
// severity, and each device's page.
type Report struct {
	Fleet   []FleetRow
	ByRule  []RuleCount
	Devices []DevicePage
}

// FleetRow is one device's health over the report's range.
type FleetRow struct {
	ID, Label, Location string
	Readings, Expected  int64
	Health              *float64
	Episodes, Open      int
}

// RuleCount is how many alerts a rule raised at one severity (OPEN and ESCALATE).
type RuleCount struct {
	Rule               string
	Warning, Violation int
}

// Report reads the report of the lake from..to: every device registered, in the hourly metrics or
// with an episode, by id.
func (r *Reader) Report(ctx context.Context, from, to time.Time) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now, _ = r.clock() // the caches' window
	r.catalog, r.catRead = nil, false
	var out Report
	f := r.newFleet()
	if err := r.fleetHealth(ctx, f, from, to); err != nil {
		return out, err
	}
	if err := r.fleetEpisodes(ctx, f, from, to); err != nil {
		return out, err
	}
	var err error
	if out.ByRule, err = r.alertsByRule(ctx, from, to); err != nil {
		return out, err
	}
	for _, id := range f.sorted() {
		out.Fleet = append(out.Fleet, *f.row(id))
		d, err := r.deviceData(ctx, id, from, to)
		if err != nil {
			return out, err
		}
		out.Devices = append(out.Devices, d)
	}
	return out, nil
}

// fleet is the report's devices being read.
type fleet struct {
	r    *Reader
	ids  map[string]bool // the devices the report shows
	rows map[string]*FleetRow
}

func (r *Reader) newFleet() *fleet {
	f := &fleet{r: r, ids: map[string]bool{}, rows: map[string]*FleetRow{}}
	for id := range r.devices {
		f.ids[id] = true
	}
	return f
}

// row is the device's row, added when it has none yet.
func (f *fleet) row(id string) *FleetRow {
	fr := f.rows[id]
	if fr == nil {
		fr = &FleetRow{ID: id, Label: f.r.Label(id), Location: f.r.devices[id].Location}
		f.rows[id] = fr
	}
	return fr
}

func (f *fleet) sorted() []string {
	out := make([]string, 0, len(f.ids))
	for id := range f.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// fleetHealth reads each device's readings from..to, and those expected of it in the hours the
// lake aggregated (of any device: one a device sent nothing in counts as none received).
func (r *Reader) fleetHealth(ctx context.Context, f *fleet, from, to time.Time) error {
	rel, err := r.rows(ctx, r.gold, from, to)
	if rel == "" || err != nil {
		return err
	}
	var hours int64
	if err := r.db.QueryRowContext(ctx, "SELECT count(DISTINCT hour_start) FROM "+rel).Scan(&hours); err != nil {
		return fmt.Errorf("reading hourly metrics: %w", err)
	}
	err = r.query(ctx, "hourly metrics", "SELECT device_id, sum(readings), max(expected_readings) FROM "+rel+" GROUP BY device_id", nil,
		func(rs scanner) error {
			var id string
			var n, e int64
			if err := rs.Scan(&id, &n, &e); err != nil {
				return err
			}
			fr := f.row(id)
			e *= hours
			fr.Readings, fr.Expected = n, e
			if h, ok := aggregate.Health(n, e); ok {
				fr.Health = &h
			}
			f.ids[id] = true
			return nil
		})
	if err != nil {
		return err
	}
	f.silentAlong(hours)
	return nil
}

// silentAlong gives a registered device silent all along 0 %: it was expected what the others were.
func (f *fleet) silentAlong(hours int64) {
	var fleetPerHour int64
	for _, fr := range f.rows {
		if fr.Readings > 0 || fr.Expected > 0 {
			fleetPerHour = max(fleetPerHour, fr.Expected/max(hours, 1))
		}
	}
	for id := range f.r.devices {
		if fr := f.row(id); fr.Expected == 0 && fleetPerHour > 0 {
			fr.Expected = fleetPerHour * hours
			h, _ := aggregate.Health(0, fr.Expected)
			fr.Health = &h
		}
	}
}

// fleetEpisodes counts each device's episodes from..to, and those still open.
func (r *Reader) fleetEpisodes(ctx context.Context, f *fleet, from, to time.Time) error {
	eps, err := r.episodes(ctx, from, to, "")
	if err != nil {
		return err
	}
	for _, e := range eps {
		fr := f.row(e.Device)
		fr.Episodes++
		if e.Open() {
			fr.Open++
		}
		f.ids[e.Device] = true
	}
	return nil
}

// alertsByRule counts the OPEN and ESCALATE alerts from..to by rule and severity, by rule.
func (r *Reader) alertsByRule(ctx context.Context, from, to time.Time) ([]RuleCount, error) {
	rows, err := r.alertRows(ctx, from, to, "")
	if err != nil {
		return nil, err
	}
	counts := map[string]*RuleCount{}
	for _, a := range rows {
		if a.At.Before(from) || !a.At.Before(to) || (a.Kind != string(alert.Open) && a.Kind != string(alert.Escalate)) {
			continue
		}
		c := counts[a.Rule]
		if c == nil {
			c = &RuleCount{Rule: a.Rule}
			counts[a.Rule] = c
		}
		if a.Severity == string(alert.Violation) {
			c.Violation++
		} else {
			c.Warning++
		}
	}
	var out []RuleCount
	for _, c := range counts {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b RuleCount) int { return strings.Compare(a.Rule, b.Rule) })
	return out, nil
}
