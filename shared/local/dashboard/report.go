package dashboard

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// ReportPage is the report's data.
type ReportPage struct {
	From, To  time.Time
	Generated time.Time
	Lake      string
	Fleet     []FleetRow
	ByRule    []RuleCount
	Devices   []DevicePage
	Style     template.CSS
	Script    template.JS
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

// Report writes one self-contained HTML file of the lake from..to: the fleet's health, alerts by
// rule and severity, and per device its charts (the pages' own chart code, inlined with uPlot)
// and episodes. It opens with no network.
func (s *Server) Report(ctx context.Context, w io.Writer, from, to time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !to.After(from) {
		return fmt.Errorf("the report's range is empty: %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	s.now, _ = s.clock() // the cache's window
	p := ReportPage{From: from.UTC(), To: to.UTC(), Generated: s.cfg.Now().UTC(), Lake: s.root}
	var css, js []byte
	for _, f := range []string{"uPlot.min.css", "app.css"} {
		b, err := assetFS.ReadFile("assets/" + f)
		if err != nil {
			return err
		}
		css = append(append(css, b...), '\n')
	}
	for _, f := range []string{"uPlot.iife.min.js", "app.js"} {
		b, err := assetFS.ReadFile("assets/" + f)
		if err != nil {
			return err
		}
		js = append(append(js, b...), '\n')
	}
	p.Style, p.Script = template.CSS(css), template.JS(js)
	ids := map[string]bool{}
	for id := range s.devices {
		ids[id] = true
	}
	fleet := map[string]*FleetRow{}
	row := func(id string) *FleetRow {
		r := fleet[id]
		if r == nil {
			r = &FleetRow{ID: id, Label: s.label(id), Location: s.devices[id].Location}
			fleet[id] = r
		}
		return r
	}
	rel, err := s.rows(ctx, s.gold, from, to)
	if err != nil {
		return err
	}
	if rel != "" {
		var hours int64 // the hours aggregated, of any device: one a device sent nothing in counts as none received
		if err := s.db.QueryRowContext(ctx, "SELECT count(DISTINCT hour_start) FROM "+rel).Scan(&hours); err != nil {
			return fmt.Errorf("reading hourly metrics: %w", err)
		}
		err := s.query(ctx, "hourly metrics", "SELECT device_id, sum(readings), max(expected_readings) FROM "+rel+" GROUP BY device_id", nil,
			func(rs scanner) error {
				var id string
				var n, e int64
				if err := rs.Scan(&id, &n, &e); err != nil {
					return err
				}
				r := row(id)
				e *= hours
				r.Readings, r.Expected = n, e
				if h, ok := aggregate.Health(n, e); ok {
					r.Health = &h
				}
				ids[id] = true
				return nil
			})
		if err != nil {
			return err
		}
		var fleetPerHour int64
		for _, r := range fleet {
			if r.Readings > 0 || r.Expected > 0 {
				fleetPerHour = max(fleetPerHour, r.Expected/max(hours, 1))
			}
		}
		for id := range s.devices { // a registered device silent all along: 0 %
			if r := row(id); r.Expected == 0 && fleetPerHour > 0 {
				r.Expected = fleetPerHour * hours
				h, _ := aggregate.Health(0, r.Expected)
				r.Health = &h
			}
		}
	}
	eps, err := s.episodes(ctx, from, to, "")
	if err != nil {
		return err
	}
	for _, e := range eps {
		r := row(e.Device)
		r.Episodes++
		if e.Open() {
			r.Open++
		}
		ids[e.Device] = true
	}
	rows, err := s.alertRows(ctx, from, to, "")
	if err != nil {
		return err
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
	for _, c := range counts {
		p.ByRule = append(p.ByRule, *c)
	}
	slices.SortFunc(p.ByRule, func(a, b RuleCount) int { return cmpString(a.Rule, b.Rule) })
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	for _, id := range sorted {
		p.Fleet = append(p.Fleet, *row(id))
		d, err := s.deviceData(ctx, id, from, to)
		if err != nil {
			return err
		}
		for i := range d.Charts {
			d.Charts[i].ID = id + "-" + d.Charts[i].ID
		}
		p.Devices = append(p.Devices, d)
	}
	return s.tmpl.ExecuteTemplate(w, "report.html", p)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
