package lakeview

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
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

// metrics are the charts of a device page, in order; their ids are the metrics' names, as rules
// and alerts name them (reading.Metric).
var metrics = []struct{ id, title, unit, color string }{
	{"temperature", "Temperature", "°C", "#b3261e"},
	{"humidity", "Humidity", "%", "#1f5fa8"},
	{"co2", "CO₂", "ppm", "#5b3e96"},
	{"light", "Light", "lux", "#8a5a00"},
}

// deviceData reads one device's charts from..to, its episodes and its latest readings.
func (r *Reader) deviceData(ctx context.Context, id string, from, to time.Time) (DevicePage, error) {
	p := DevicePage{ID: id, Label: r.Label(id), Location: r.devices[id].Location, From: from, To: to, Raw: to.Sub(from) <= rawUpTo}
	c := newChartSet()
	read := r.hourlyMetrics
	if p.Raw {
		read = r.rawReadings
	}
	if err := read(ctx, c, id, from, to); err != nil {
		return p, err
	}
	if err := r.declaredCharts(ctx, c, id, from, to, p.Raw); err != nil {
		return p, err
	}
	if err := r.thresholdLines(ctx, c, id); err != nil {
		return p, err
	}
	eps, err := r.episodes(ctx, from, to, id)
	if err != nil {
		return p, err
	}
	p.Episodes = eps
	c.shade(eps, from, to)
	p.Charts = c.done()
	latest, err := r.latest(ctx, id, to)
	p.Latest = latest
	return p, err
}

// chartSet is a device page's charts being read: one per built-in metric, on one time axis, then
// one per declared metric the device has data for, each on its own axis (declaredCharts).
type chartSet struct {
	charts  []Chart
	x       []int64
	builtin int // the first charts, the built-ins', on the axis x
}

// seriesRef names a series by its chart and place: a pointer into a chart's Series would go
// stale when the next series is appended to the same chart.
type seriesRef struct{ chart, series int }

func newChartSet() *chartSet {
	c := &chartSet{charts: make([]Chart, len(metrics)), builtin: len(metrics)}
	for i, m := range metrics {
		c.charts[i] = Chart{ID: m.id, Title: m.title, Unit: m.unit}
	}
	return c
}

// add adds a series to a chart.
func (c *chartSet) add(chart int, label, color string, width float64) seriesRef {
	c.charts[chart].Series = append(c.charts[chart].Series, Series{Label: label, Color: color, Width: width})
	return seriesRef{chart, len(c.charts[chart].Series) - 1}
}

// point adds a time to the axis and each series' value at it.
func (c *chartSet) point(t int64, series []seriesRef, v []sql.NullFloat64) {
	c.x = append(c.x, t)
	for i, ref := range series {
		s := &c.charts[ref.chart].Series[ref.series]
		s.Values = append(s.Values, null(v[i]))
	}
}

// done gives every built-in chart the time axis (a declared metric's chart has its own).
func (c *chartSet) done() []Chart {
	for i := range c.charts {
		if i < c.builtin {
			c.charts[i].X = c.x
		}
		c.charts[i].Points = len(c.charts[i].X)
	}
	return c.charts
}

// rawReadings draws each metric's readings (bronze), one point a second at the most.
func (r *Reader) rawReadings(ctx context.Context, c *chartSet, id string, from, to time.Time) error {
	series := make([]seriesRef, len(metrics))
	for i, m := range metrics {
		series[i] = c.add(i, m.title, m.color, 1.5)
	}
	files := r.files("bronze", from, to, ".json.gz")
	if len(files) == 0 {
		return nil
	}
	return r.query(ctx, "readings", "SELECT epoch(ts)::BIGINT AS t, any_value(temperature), any_value(humidity), any_value(co2), any_value(light) FROM ("+
		bronzeSQL(files)+") WHERE device_id = ? AND ts >= ? AND ts < ? GROUP BY t ORDER BY t", []any{id, from, to},
		func(rs scanner) error {
			var t int64
			v := make([]sql.NullFloat64, 4)
			if err := rs.Scan(&t, &v[0], &v[1], &v[2], &v[3]); err != nil {
				return err
			}
			c.point(t, series, v)
			return nil
		})
}

// hourlyColumns are the hourly metrics a device's charts draw beyond rawUpTo, in the order
// hourlyMetrics reads them.
var hourlyColumns = []struct {
	chart int
	label string
	width float64
}{{0, "min", 1}, {0, "avg", 2}, {0, "max", 1}, {1, "avg", 2}, {2, "avg", 2}, {2, "max", 1}, {3, "avg", 2}, {3, "max", 1}}

// hourlyMetrics draws the hourly minimum, average and maximum (gold).
func (r *Reader) hourlyMetrics(ctx context.Context, c *chartSet, id string, from, to time.Time) error {
	series := make([]seriesRef, len(hourlyColumns))
	for i, col := range hourlyColumns {
		color := metrics[col.chart].color
		if col.width < 2 {
			color += "99" // the min and max fainter than the average
		}
		series[i] = c.add(col.chart, metrics[col.chart].title+" "+col.label, color, col.width)
	}
	rel, err := r.rows(ctx, r.gold, from, to)
	if rel == "" || err != nil {
		return err
	}
	return r.query(ctx, "hourly metrics", "SELECT epoch(hour_start)::BIGINT, temperature_min, temperature_avg, temperature_max, humidity_avg, co2_avg, co2_max, light_avg, light_max FROM "+
		rel+" WHERE device_id = ? ORDER BY hour_start", []any{id},
		func(rs scanner) error {
			var t int64
			v := make([]sql.NullFloat64, len(hourlyColumns))
			dest := []any{&t}
			for i := range v {
				dest = append(dest, &v[i])
			}
			if err := rs.Scan(dest...); err != nil {
				return err
			}
			c.point(t, series, v)
			return nil
		})
}

// thresholdLines draws the device's rules in force now (read from the rules at each page, so
// that an edit of a running pipeline's files shows at the next) on the chart of each rule's
// metric: high and low rules their warning and violation, no_occupancy its warning. A rule on a
// metric with no chart, or of a kind with no threshold on the metric's scale (anomaly, stuck,
// silent), draws no line.
func (r *Reader) thresholdLines(ctx context.Context, c *chartSet, id string) error {
	if r.cfg.Rules == nil {
		return nil
	}
	rules, err := r.cfg.Rules.InForce(ctx, id)
	if err != nil {
		return fmt.Errorf("reading the rules in force for %s: %w", id, err)
	}
	for _, f := range rules {
		chart := c.chartOf(f.Metric)
		if chart < 0 {
			continue
		}
		c.charts[chart].Thresholds = append(c.charts[chart].Thresholds, linesOf(f.Row)...)
	}
	return nil
}

// linesOf are a rule's thresholds as lines, labelled by user, metric, kind and severity
// ("alice co2 high warning").
func linesOf(r rule.Row) []Line {
	var out []Line
	add := func(v threshold.Value, sev alert.Severity) {
		if v.Set {
			label := r.UserID + " " + r.Metric + " " + r.Kind.String() + " " + strings.ToLower(string(sev))
			out = append(out, Line{Label: label, Value: v.V, Severity: string(sev)})
		}
	}
	switch r.Kind {
	case rule.High, rule.Low:
		add(r.Warning, alert.Warning)
		add(r.Violation, alert.Violation)
	case rule.NoOccupancy:
		add(r.Warning, alert.Warning)
	}
	return out
}

// shade shades each episode over the time it was open in from..to, on the chart of its rule's
// metric (episodeChart).
func (c *chartSet) shade(eps []Episode, from, to time.Time) {
	for _, e := range eps {
		end := e.End
		if e.Open() {
			end = to
		}
		b := Band{From: max(e.Start.Unix(), from.Unix()), To: min(end.Unix(), to.Unix()), Severity: e.Severity, Label: e.User + " " + e.Rule}
		chart := c.episodeChart(e.Rule)
		for i := range c.charts {
			if chart == i || chart < 0 {
				c.charts[i].Bands = append(c.charts[i].Bands, b)
			}
		}
	}
}

// episodeChart is the chart an episode of the rule is shaded on: its metric's (rule.ParseName);
// -1, every chart, for device_silent, for a rule on a metric with no chart, and for a name it
// cannot read.
func (c *chartSet) episodeChart(name string) int {
	metric, kind, ok := rule.ParseName(alert.Rule(name))
	if !ok || kind == rule.Silent {
		return -1
	}
	return c.chartOf(metric)
}

// chartOf is the chart of a metric, a built-in or a declared one (-1: none).
func (c *chartSet) chartOf(metric string) int {
	for i, ch := range c.charts {
		if ch.ID == metric {
			return i
		}
	}
	return -1
}

// latest reads the device's last 20 readings before `to`: from the last three hours of bronze,
// or from its last day when it has been silent longer.
func (r *Reader) latest(ctx context.Context, id string, to time.Time) ([]LatestReading, error) {
	var out []LatestReading
	for _, back := range []time.Duration{3 * time.Hour, 24 * time.Hour} {
		files := r.files("bronze", to.Add(-back), to.Add(time.Hour), ".json.gz")
		if len(files) == 0 {
			continue
		}
		err := r.query(ctx, "the latest readings", "SELECT ts, temperature, humidity, co2, light, occupancy FROM ("+bronzeSQL(files)+
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
