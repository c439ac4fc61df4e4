package lakeview

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Heatmap is the heatmap page's data: one row per location, one cell per hour.
type Heatmap struct {
	By       string // "temperature" or "health"
	Range    string // "24h": the last 24 hours; "7d": each hour of the day over the last 7 days
	Fixed    bool   // coloured on FixedTemperature's range, not the cells' own
	Columns  []string
	Rows     []HeatRow
	Min, Max float64 // the colour scale's ends, in Unit
	Unit     string
	Legend   []Cell
}

// FixedTemperature is the fixed colour scale of the temperature heatmap: an office's range, so
// that a fleet within 1.7 °C is not painted from deep blue to deep red; a cell outside it takes
// the colour of the end it passed.
var FixedTemperature = [2]float64{16, 28}

// HeatRow is one location.
type HeatRow struct {
	Location string
	Devices  int
	Cells    []Cell
}

// Cell is one location's hour.
type Cell struct {
	Text, Title, Background, Color string
}

// heatAcc is one location's hour being read.
type heatAcc struct {
	tempSum                 float64
	tempN, readings, expect int64
}

// heatmapData reads the heatmap: the hours that are over (the current one is aggregated once it
// is), by location, of the last 24 hours or of each hour of the day over the last 7 days.
func (r *Reader) heatmapData(ctx context.Context, now time.Time, by, rng string, fixed bool) (Heatmap, error) {
	h := Heatmap{By: by, Range: rng, Fixed: fixed && by != "health", Unit: "°C"}
	g := r.newHeatGrid(now, rng)
	h.Columns = g.columns()
	if _, err := r.goldHours(ctx, g.start, g.end, g.add); err != nil {
		return h, err
	}
	g.expect()
	value := func(a heatAcc) (float64, bool) {
		if by == "health" {
			return aggregate.Health(a.readings, a.expect)
		}
		return a.tempSum / float64(a.tempN), a.tempN > 0
	}
	h.Min, h.Max = g.scale(value)
	switch {
	case by == "health":
		h.Min, h.Max, h.Unit = 0, 100, "%"
	case h.Fixed:
		h.Min, h.Max = FixedTemperature[0], FixedTemperature[1]
	}
	h.Rows = g.rows(h, value)
	if len(h.Rows) > 0 {
		for i := range 5 {
			v := h.Min + (h.Max-h.Min)*float64(i)/4
			h.Legend = append(h.Legend, cell(v, h, "legend"))
		}
	}
	return h, nil
}

// heatGrid is the heatmap's cells being read: 24 a location.
type heatGrid struct {
	r          *Reader
	start, end time.Time
	weekly     bool // a column is an hour of the day over 7 days, not one hour
	cells      map[string][]heatAcc
	devs       map[string]map[string]bool // the devices of each location
	perHour    int64                      // expected readings of a device in an hour
	colHours   []map[time.Time]bool       // the hours aggregated in each column, of any device
}

func (r *Reader) newHeatGrid(now time.Time, rng string) *heatGrid {
	g := &heatGrid{r: r, end: now.Truncate(time.Hour), weekly: rng == "7d", cells: map[string][]heatAcc{}, devs: map[string]map[string]bool{},
		colHours: make([]map[time.Time]bool, 24)}
	g.start = g.end.Add(-24 * time.Hour)
	if g.weekly {
		g.start = g.end.Add(-7 * 24 * time.Hour)
	}
	for i := range g.colHours {
		g.colHours[i] = map[time.Time]bool{}
	}
	for id := range r.devices { // registered devices count where they are, reporting or not
		g.device(id)
	}
	return g
}

// columns are the columns' names: the hours.
func (g *heatGrid) columns() []string {
	var out []string
	for i := range 24 {
		if g.weekly {
			out = append(out, fmt.Sprintf("%02d", i))
		} else {
			out = append(out, g.start.Add(time.Duration(i)*time.Hour).Format("15"))
		}
	}
	return out
}

// col is the column of an hour.
func (g *heatGrid) col(t time.Time) int {
	if g.weekly {
		return t.UTC().Hour()
	}
	return int(t.Sub(g.start) / time.Hour)
}

// device counts a device in its location, and returns the location's cells.
func (g *heatGrid) device(id string) []heatAcc {
	loc := g.r.devices[id].Location
	if loc == "" {
		loc = "(no location)"
	}
	if g.cells[loc] == nil {
		g.cells[loc], g.devs[loc] = make([]heatAcc, 24), map[string]bool{}
	}
	g.devs[loc][id] = true
	return g.cells[loc]
}

// add adds a device-hour of the hourly metrics to its location's cell.
func (g *heatGrid) add(row goldRow) {
	cells := g.device(row.device)
	i := g.col(row.hour)
	if i < 0 || i >= 24 {
		return
	}
	g.colHours[i][row.hour] = true
	a := &cells[i]
	if row.temp.Valid {
		// weighted by readings: the location's average, not an average of averages
		a.tempSum += row.temp.Float64 * float64(row.readings)
		a.tempN += row.readings
	}
	a.readings += row.readings
	g.perHour = max(g.perHour, row.expected)
}

// expect sets the readings each cell expected. A cell's health counts every device of the
// location seen in the range, in each of the cell's hours the lake aggregated: an hour a device
// sent nothing has no row of its own, and counts as none received.
func (g *heatGrid) expect() {
	for loc, accs := range g.cells {
		for i := range accs {
			accs[i].expect = int64(len(g.devs[loc])) * g.perHour * int64(len(g.colHours[i]))
		}
	}
}

// scale is the lowest and highest value of the cells.
func (g *heatGrid) scale(value func(heatAcc) (float64, bool)) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, accs := range g.cells {
		for _, a := range accs {
			if v, ok := value(a); ok {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return lo, hi
}

// rows are the locations by name, their cells coloured on h's scale.
func (g *heatGrid) rows(h Heatmap, value func(heatAcc) (float64, bool)) []HeatRow {
	locs := make([]string, 0, len(g.cells))
	for l := range g.cells {
		locs = append(locs, l)
	}
	sort.Strings(locs)
	var out []HeatRow
	for _, l := range locs {
		row := HeatRow{Location: l, Devices: len(g.devs[l])}
		for i, a := range g.cells[l] {
			v, ok := value(a)
			if !ok {
				row.Cells = append(row.Cells, Cell{Text: "", Title: l + ", " + h.Columns[i] + ":00: no data", Background: "#ffffff", Color: "#1b1b1b"})
				continue
			}
			row.Cells = append(row.Cells, cell(v, h, l+", "+h.Columns[i]+":00"))
		}
		out = append(out, row)
	}
	return out
}

// cell colours a value between the map's min and max: blue to red for temperature, red to green
// for health; its text black or white, whichever contrasts more with the colour.
func cell(v float64, h Heatmap, where string) Cell {
	f := 0.5
	if h.Max > h.Min {
		f = min(1, max(0, (v-h.Min)/(h.Max-h.Min)))
	}
	var c [3]float64
	lo, hi := [3]float64{49, 104, 189}, [3]float64{200, 40, 40} // blue, red
	if h.By == "health" {
		lo, hi = [3]float64{200, 40, 40}, [3]float64{30, 140, 70} // red, green
	}
	for i := range c {
		c[i] = lo[i] + (hi[i]-lo[i])*f
	}
	bg := fmt.Sprintf("#%02x%02x%02x", int(c[0]), int(c[1]), int(c[2]))
	text, unit := fmt.Sprintf("%.1f", v), "°C"
	if h.By == "health" {
		text, unit = fmt.Sprintf("%.0f", v), "%"
	}
	fg := "#000000"
	if contrast(c, [3]float64{255, 255, 255}) > contrast(c, [3]float64{0, 0, 0}) {
		fg = "#ffffff"
	}
	return Cell{Text: text, Title: where + ": " + text + " " + unit, Background: bg, Color: fg}
}

// contrast is the WCAG contrast ratio of two sRGB colours (0–255).
func contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(c [3]float64) float64 {
	var l [3]float64
	for i, v := range c {
		v /= 255
		if v <= 0.03928 {
			l[i] = v / 12.92
		} else {
			l[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}
