package dashboard

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// rawUpTo is the longest range a device's charts draw from raw readings (bronze); longer ranges
// draw the hourly minimum, average and maximum (gold).
const rawUpTo = 24 * time.Hour

// Chart is one chart as the pages' script draws it (assets/app.js).
type Chart struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Unit       string   `json:"unit"`
	X          []int64  `json:"x"` // Unix seconds
	Series     []Series `json:"series"`
	Thresholds []Line   `json:"thresholds,omitempty"`
	Bands      []Band   `json:"bands,omitempty"`
	Points     int      `json:"points"`
	Bars       bool     `json:"bars,omitempty"`
}

// Series is one line of a chart.
type Series struct {
	Label  string     `json:"label"`
	Values []*float64 `json:"values"`
	Color  string     `json:"color"`
	Width  float64    `json:"width,omitempty"`
}

// Line is a threshold, drawn across the chart.
type Line struct {
	Label    string  `json:"label"`
	Value    float64 `json:"value"`
	Severity string  `json:"severity"`
}

// Band is an episode, shaded over the time it was open.
type Band struct {
	From     int64  `json:"from"`
	To       int64  `json:"to"`
	Severity string `json:"severity"`
	Label    string `json:"label"`
}

// DevicePage is a device page's data.
type DevicePage struct {
	ID, Label, Location string
	Range               string
	Ranges              []string
	Raw                 bool // the charts are raw readings (else hourly from gold)
	From, To            time.Time
	Charts              []Chart
	Episodes            []Episode
	Latest              []LatestReading
}

// LatestReading is one of the device's last readings.
type LatestReading struct {
	At                                time.Time
	Temperature, Humidity, CO2, Light *float64
	Occupancy                         *float64
}

// metrics are the charts of a device page, in order.
var metrics = []struct{ id, title, unit, color string }{
	{"temperature", "Temperature", "°C", "#b3261e"},
	{"humidity", "Humidity", "%", "#1f5fa8"},
	{"co2", "CO₂", "ppm", "#5b3e96"},
	{"light", "Light", "lux", "#8a5a00"},
}

func (s *Server) device(r *http.Request, now time.Time) (string, any, error) {
	id := r.PathValue("id")
	if !reading.ValidDeviceID(id) {
		return "", nil, errNotFound
	}
	name, span := rangeOf(r.URL.Query(), "24h")
	p, err := s.deviceData(r.Context(), id, now.Add(-span), now)
	p.Range = name
	return p.Label, p, err
}

// deviceData reads one device's charts from..to, its episodes and its latest readings.
func (s *Server) deviceData(ctx context.Context, id string, from, to time.Time) (DevicePage, error) {
	p := DevicePage{ID: id, Label: s.label(id), Location: s.devices[id].Location, Ranges: rangeNames, From: from, To: to, Raw: to.Sub(from) <= rawUpTo}
	charts := make([]Chart, len(metrics))
	for i, m := range metrics {
		charts[i] = Chart{ID: m.id, Title: m.title, Unit: m.unit}
	}
	// A series is named by its chart and place: a pointer into a chart's Series would go stale
	// when the next series is appended to the same chart.
	type ref struct{ chart, series int }
	add := func(chart int, label, color string, width float64) ref {
		charts[chart].Series = append(charts[chart].Series, Series{Label: label, Color: color, Width: width})
		return ref{chart, len(charts[chart].Series) - 1}
	}
	push := func(r ref, v *float64) {
		s := &charts[r.chart].Series[r.series]
		s.Values = append(s.Values, v)
	}
	var x []int64
	if p.Raw {
		vals := make([]ref, len(metrics))
		for i, m := range metrics {
			vals[i] = add(i, m.title, m.color, 1.5)
		}
		if files := s.files("bronze", from, to, ".json.gz"); len(files) > 0 {
			err := s.query(ctx, "readings", "SELECT epoch(ts)::BIGINT AS t, any_value(temperature), any_value(humidity), any_value(co2), any_value(light) FROM ("+
				bronzeSQL(files)+") WHERE device_id = ? AND ts >= ? AND ts < ? GROUP BY t ORDER BY t", []any{id, from, to},
				func(rs scanner) error {
					var t int64
					v := make([]sql.NullFloat64, 4)
					if err := rs.Scan(&t, &v[0], &v[1], &v[2], &v[3]); err != nil {
						return err
					}
					x = append(x, t)
					for i, r := range vals {
						push(r, null(v[i]))
					}
					return nil
				})
			if err != nil {
				return p, err
			}
		}
	} else {
		type col struct {
			chart int
			label string
			width float64
		}
		cols := []col{{0, "min", 1}, {0, "avg", 2}, {0, "max", 1}, {1, "avg", 2}, {2, "avg", 2}, {2, "max", 1}, {3, "avg", 2}, {3, "max", 1}}
		series := make([]ref, len(cols))
		for i, c := range cols {
			color := metrics[c.chart].color
			if c.width < 2 {
				color += "99" // the min and max fainter than the average
			}
			series[i] = add(c.chart, metrics[c.chart].title+" "+c.label, color, c.width)
		}
		rel, err := s.rows(ctx, s.gold, from, to)
		if err != nil {
			return p, err
		}
		if rel != "" {
			err := s.query(ctx, "hourly metrics", "SELECT epoch(hour_start)::BIGINT, temperature_min, temperature_avg, temperature_max, humidity_avg, co2_avg, co2_max, light_avg, light_max FROM "+
				rel+" WHERE device_id = ? ORDER BY hour_start", []any{id},
				func(rs scanner) error {
					var t int64
					v := make([]sql.NullFloat64, len(cols))
					dest := []any{&t}
					for i := range v {
						dest = append(dest, &v[i])
					}
					if err := rs.Scan(dest...); err != nil {
						return err
					}
					x = append(x, t)
					for i, r := range series {
						push(r, null(v[i]))
					}
					return nil
				})
			if err != nil {
				return p, err
			}
		}
	}
	for _, c := range s.cfg.Thresholds {
		if c.DeviceID != id {
			continue
		}
		for _, t := range []struct {
			chart    int
			what     string
			v        float64
			set      bool
			severity alert.Severity
		}{
			{0, "high warning", c.TempWarning.V, c.TempWarning.Set, alert.Warning},
			{0, "high violation", c.TempViolation.V, c.TempViolation.Set, alert.Violation},
			{0, "low warning", c.TempLowWarning.V, c.TempLowWarning.Set, alert.Warning},
			{0, "low violation", c.TempLowViolation.V, c.TempLowViolation.Set, alert.Violation},
			{3, "light with no one in", c.LightNoOccupancy.V, c.LightNoOccupancy.Set, alert.Warning},
		} {
			if t.set {
				charts[t.chart].Thresholds = append(charts[t.chart].Thresholds, Line{Label: c.UserID + " " + t.what, Value: t.v, Severity: string(t.severity)})
			}
		}
	}
	eps, err := s.episodes(ctx, from, to, id)
	if err != nil {
		return p, err
	}
	p.Episodes = eps
	for _, e := range eps {
		end := e.End
		if e.Open() {
			end = to
		}
		b := Band{From: max(e.Start.Unix(), from.Unix()), To: min(end.Unix(), to.Unix()), Severity: e.Severity, Label: e.User + " " + e.Rule}
		for i := range charts {
			if chartOf(e.Rule) == i || chartOf(e.Rule) < 0 {
				charts[i].Bands = append(charts[i].Bands, b)
			}
		}
	}
	for i := range charts {
		charts[i].X, charts[i].Points = x, len(x)
	}
	p.Charts = charts
	latest, err := s.latest(ctx, id, to)
	p.Latest = latest
	return p, err
}

// chartOf is the chart an episode of the rule is shaded on (-1: every chart).
func chartOf(rule string) int {
	switch alert.Rule(rule) {
	case alert.LightNoOccupancy:
		return 3
	case alert.DeviceSilent:
		return -1
	}
	return 0
}

// latest reads the device's last 20 readings before `to`: from the last three hours of bronze,
// or from its last day when it has been silent longer.
func (s *Server) latest(ctx context.Context, id string, to time.Time) ([]LatestReading, error) {
	var out []LatestReading
	for _, back := range []time.Duration{3 * time.Hour, 24 * time.Hour} {
		files := s.files("bronze", to.Add(-back), to.Add(time.Hour), ".json.gz")
		if len(files) == 0 {
			continue
		}
		err := s.query(ctx, "the latest readings", "SELECT ts, temperature, humidity, co2, light, occupancy FROM ("+bronzeSQL(files)+
			") WHERE device_id = ? AND ts <= ? ORDER BY ts DESC LIMIT 20", []any{id, to},
			func(rs scanner) error {
				var l LatestReading
				v := make([]sql.NullFloat64, 5)
				if err := rs.Scan(&l.At, &v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
					return err
				}
				l.At = l.At.UTC()
				l.Temperature, l.Humidity, l.CO2, l.Light, l.Occupancy = null(v[0]), null(v[1]), null(v[2]), null(v[3]), null(v[4])
				out = append(out, l)
				return nil
			})
		if err != nil || len(out) > 0 {
			return out, err
		}
	}
	return out, nil
}
