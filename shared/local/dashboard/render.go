package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
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
	"lower":    strings.ToLower,
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

// num writes an optional value with the given decimals, "–" when absent.
func num(v *float64, decimals int) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v, 'f', decimals, 64)
}

// spark draws a small line of the values (gaps where a value is missing) as inline SVG, with a
// text alternative that says what it shows.
func spark(vals []*float64, what string) template.HTML {
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
	label := fmt.Sprintf("%s over the last 24 hours: %.1f to %.1f", what, lo, hi)
	return template.HTML(fmt.Sprintf(`<svg class="spark" role="img" aria-label="%s" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f"><title>%s</title><path d="%s" fill="none" stroke="#b3261e" stroke-width="1.5" stroke-linecap="round"/></svg>`,
		template.HTMLEscapeString(label), w, h, w, h, template.HTMLEscapeString(label), strings.TrimSpace(path.String())))
}
