package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Heatmap is the heatmap page's data: one row per location, one cell per hour.
type Heatmap struct {
	By       string // "temperature" or "health"
	Range    string // "24h": the last 24 hours; "7d": each hour of the day over the last 7 days
	Columns  []string
	Rows     []HeatRow
	Min, Max float64
	Legend   []Cell
}

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

type heatAcc struct {
	tempSum                 float64
	tempN, readings, expect int64
}

func (s *Server) heatmap(r *http.Request, now time.Time) (string, any, error) {
	by := r.URL.Query().Get("by")
	if by != "health" {
		by = "temperature"
	}
	rng := r.URL.Query().Get("range")
	if rng != "7d" {
		rng = "24h"
	}
	h, err := s.heatmapData(r.Context(), now, by, rng)
	return "Heatmap", h, err
}

func (s *Server) heatmapData(ctx context.Context, now time.Time, by, rng string) (Heatmap, error) {
	h := Heatmap{By: by, Range: rng}
	end := now.Truncate(time.Hour) // the hours that are over: the current one is aggregated once it is
	start := end.Add(-24 * time.Hour)
	if rng == "7d" {
		start = end.Add(-7 * 24 * time.Hour)
	}
	col := func(t time.Time) int {
		if rng == "7d" {
			return t.UTC().Hour()
		}
		return int(t.Sub(start) / time.Hour)
	}
	for i := range 24 {
		if rng == "7d" {
			h.Columns = append(h.Columns, fmt.Sprintf("%02d", i))
		} else {
			h.Columns = append(h.Columns, start.Add(time.Duration(i)*time.Hour).Format("15"))
		}
	}
	cells := map[string][]heatAcc{}
	devs := map[string]map[string]bool{}
	locOf := func(id string) string {
		if loc := s.devices[id].Location; loc != "" {
			return loc
		}
		return "(no location)"
	}
	for id := range s.devices { // registered devices count where they are, reporting or not
		loc := locOf(id)
		if cells[loc] == nil {
			cells[loc], devs[loc] = make([]heatAcc, 24), map[string]bool{}
		}
		devs[loc][id] = true
	}
	var perHour int64                          // expected readings of a device in an hour
	colHours := make([]map[time.Time]bool, 24) // the hours aggregated in each column, of any device
	for i := range colHours {
		colHours[i] = map[time.Time]bool{}
	}
	_, err := s.goldHours(ctx, start, end, func(g goldRow) {
		loc := locOf(g.device)
		if cells[loc] == nil {
			cells[loc] = make([]heatAcc, 24)
			devs[loc] = map[string]bool{}
		}
		devs[loc][g.device] = true
		i := col(g.hour)
		if i < 0 || i >= 24 {
			return
		}
		colHours[i][g.hour] = true
		a := &cells[loc][i]
		if g.temp.Valid {
			// weighted by readings: the location's average, not an average of averages
			a.tempSum += g.temp.Float64 * float64(g.readings)
			a.tempN += g.readings
		}
		a.readings += g.readings
		perHour = max(perHour, g.expected)
	})
	if err != nil {
		return h, err
	}
	// A cell's health counts every device of the location seen in the range, in each of the
	// cell's hours the lake aggregated: an hour a device sent nothing has no row of its own, and
	// counts as none received.
	for loc, accs := range cells {
		for i := range accs {
			accs[i].expect = int64(len(devs[loc])) * perHour * int64(len(colHours[i]))
		}
	}
	value := func(a heatAcc) (float64, bool) {
		if by == "health" {
			return aggregate.Health(a.readings, a.expect)
		}
		return a.tempSum / float64(a.tempN), a.tempN > 0
	}
	h.Min, h.Max = math.Inf(1), math.Inf(-1)
	for _, accs := range cells {
		for _, a := range accs {
			if v, ok := value(a); ok {
				h.Min, h.Max = math.Min(h.Min, v), math.Max(h.Max, v)
			}
		}
	}
	if by == "health" {
		h.Min, h.Max = 0, 100
	}
	locs := make([]string, 0, len(cells))
	for l := range cells {
		locs = append(locs, l)
	}
	sort.Strings(locs)
	for _, l := range locs {
		row := HeatRow{Location: l, Devices: len(devs[l])}
		for i, a := range cells[l] {
			v, ok := value(a)
			if !ok {
				row.Cells = append(row.Cells, Cell{Text: "", Title: l + ", " + h.Columns[i] + ":00: no data", Background: "#ffffff", Color: "#1b1b1b"})
				continue
			}
			row.Cells = append(row.Cells, s.cell(v, h, l+", "+h.Columns[i]+":00"))
		}
		h.Rows = append(h.Rows, row)
	}
	if len(h.Rows) > 0 {
		for i := range 5 {
			v := h.Min + (h.Max-h.Min)*float64(i)/4
			h.Legend = append(h.Legend, s.cell(v, h, "legend"))
		}
	}
	return h, nil
}

// cell colours a value between the map's min and max: blue to red for temperature, red to green
// for health; its text black or white, whichever contrasts more with the colour.
func (s *Server) cell(v float64, h Heatmap, where string) Cell {
	f := 0.5
	if h.Max > h.Min {
		f = (v - h.Min) / (h.Max - h.Min)
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
