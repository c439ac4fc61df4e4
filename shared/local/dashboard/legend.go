package dashboard

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

// keyEntry is one line of a chart's key: what one kind of shade or one dashed line on the chart
// is, in words (the canvas has none a screen reader can read).
type keyEntry struct {
	Mark     string // "band" (a shade) or "line" (a dashed threshold): the key's swatch
	Severity string // "warning" or "violation": its colour, as app.js draws it
	Text     string
}

// chartKey is a chart's key: each user's rule shaded on it, by the severity its episodes reached,
// with how many there are, then each threshold drawn, with its value; none for a chart with
// neither.
func chartKey(c lakeview.Chart) []keyEntry {
	type shade struct{ label, severity string }
	var order []shade
	count := map[shade]int{}
	for _, b := range c.Bands {
		k := shade{b.Label, strings.ToLower(b.Severity)}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	out := make([]keyEntry, 0, len(order)+len(c.Thresholds))
	for _, k := range order {
		out = append(out, keyEntry{Mark: "band", Severity: k.severity, Text: fmt.Sprintf("shaded: %s, %s (%s)", k.label, k.severity, plural(count[k], "episode"))})
	}
	for _, t := range c.Thresholds {
		v := strconv.FormatFloat(t.Value, 'f', -1, 64)
		if c.Unit != "" {
			v += " " + c.Unit
		}
		out = append(out, keyEntry{Mark: "line", Severity: strings.ToLower(t.Severity), Text: "dashed: " + t.Label + ", " + v})
	}
	return out
}

// plural is n and the noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
