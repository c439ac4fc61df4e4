package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

var funcs = template.FuncMap{
	"when":  when,
	"ago":   ago,
	"num":   num,
	"spark": spark,
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"query": func(kv ...string) template.URL { // a page's link with its filters
		var parts []string
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				parts = append(parts, template.URLQueryEscaper(kv[i])+"="+template.URLQueryEscaper(kv[i+1]))
			}
		}
		if len(parts) == 0 {
			return ""
		}
		return template.URL("?" + strings.Join(parts, "&"))
	},
	"lower": strings.ToLower,
	"fixedScale": func(fixed bool) string { // the heatmap's scale parameter, kept across its links
		if fixed {
			return "fixed"
		}
		return ""
	},
	"fixedTemperature": func() [2]float64 { return lakeview.FixedTemperature },
	"peak":             peak,
	"add": func(a ...int) int {
		n := 0
		for _, v := range a {
			n += v
		}
		return n
	},
	"chartKey": chartKey,
}

// when writes a time as the pages show it (UTC, to the minute), "–" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// ago is how long before now t was, in the largest unit that fits.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "not in the last day"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// peak writes an episode's peak with its unit: "600 s silent" for device_silent, "24.1 °C".
func peak(e lakeview.Episode) string {
	switch {
	case e.Peak == nil:
		return "–"
	case e.Unit == "s":
		return strconv.FormatFloat(*e.Peak, 'f', 0, 64) + " s silent"
	case e.Unit == "":
		return strconv.FormatFloat(*e.Peak, 'f', 1, 64)
	}
	return strconv.FormatFloat(*e.Peak, 'f', 1, 64) + " " + e.Unit
}

// num writes an optional value with the given decimals, "–" when absent.
func num(v *float64, decimals int) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v, 'f', decimals, 64)
}

// spark draws a small line of the values (gaps where a value is missing) as inline SVG, with a
// text alternative that says what it shows, and its scale beside it: the line spans the lowest
// to the highest value, so a flat 0.3 °C looks as tall as 10 °C without it.
func spark(vals []*float64, what, unit string) template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	n := 0
	for _, v := range vals {
		if v != nil {
			lo, hi, n = math.Min(lo, *v), math.Max(hi, *v), n+1
		}
	}
	const w, h = 120.0, 28.0
	if n == 0 {
		return template.HTML(`<span class="muted">no data</span>`)
	}
	vlo, vhi := lo, hi // the values' range, which the scale hint says
	if hi == lo {
		hi, lo = hi+0.5, lo-0.5
	}
	var path strings.Builder
	pen := false
	for i, v := range vals {
		if v == nil {
			pen = false
			continue
		}
		x := w * float64(i) / float64(max(1, len(vals)-1))
		y := h - 2 - (h-4)*(*v-lo)/(hi-lo)
		if pen {
			fmt.Fprintf(&path, " L%.1f %.1f", x, y)
		} else {
			fmt.Fprintf(&path, " M%.1f %.1f", x, y)
			if i == len(vals)-1 || vals[i+1] == nil {
				fmt.Fprintf(&path, " l0.1 0") // a lone point still shows
			}
		}
		pen = true
	}
	lo, hi = vlo, vhi
	label := fmt.Sprintf("%s over the last 24 hours: %.1f to %.1f %s", what, lo, hi, unit)
	return template.HTML(fmt.Sprintf(`<span class="spark-box"><svg class="spark" role="img" aria-label="%s" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f"><title>%s</title><path d="%s" fill="none" stroke="#b3261e" stroke-width="1.5" stroke-linecap="round"/></svg> <span class="spark-range" aria-hidden="true">%.1f–%.1f %s</span></span>`,
		template.HTMLEscapeString(label), w, h, w, h, template.HTMLEscapeString(label), strings.TrimSpace(path.String()), lo, hi, template.HTMLEscapeString(unit)))
}
