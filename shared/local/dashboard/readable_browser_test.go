package dashboard

import (
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/browser"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// readInABrowser checks what a person reads on the pages (TestPagesInABrowser's lake and
// browser): the charts' times in UTC under a browser in another zone, the phone's overview
// showing Health, the heatmap's newest hour on a laptop's screen, the thresholds' labels apart
// and a spike's range.
func readInABrowser(t *testing.T, b *browser.Browser, l lakegen.Lake, srv *httptest.Server) {
	desktop, phone := browser.Viewports[0], browser.Viewports[1]

	t.Run("chart times are UTC under Asia/Kolkata", func(t *testing.T) {
		for _, path := range []string{"/device/room-000", "/device/room-001?range=7d", "/pipeline"} {
			for _, vp := range browser.Viewports {
				p := b.Open(t, "about:blank", vp)
				// India is UTC+5:30: a browser's own calendar would put the ticks at :30 past a
				// UTC hour, and label them 5 h 30 later.
				p.Run(emulation.SetTimezoneOverride("Asia/Kolkata"), chromedp.Navigate(srv.URL+path), chromedp.WaitReady("body"))
				var offset int
				p.Eval(`new Date(Date.UTC(2026, 2, 10)).getTimezoneOffset()`, &offset)
				require.Equal(t, -330, offset, "the browser's zone is India's")
				p.WaitFor(`window.iotwatch && window.iotwatch.charts.length === document.querySelectorAll("figure.chart").length`, 10*time.Second)
				var axes []struct {
					ID     string    `json:"id"`
					Splits []float64 `json:"splits"`
					Values []string  `json:"values"`
					First  float64   `json:"first"`
					Legend string    `json:"legend"`
				}
				p.Eval(`window.iotwatch.charts.map(c => ({id: c.id, splits: c.u.axes[0]._splits, values: c.u.axes[0]._values,
					first: c.u.data[0][0], legend: c.u.series[0].value(c.u, c.u.data[0][0])}))`, &axes)
				require.NotEmpty(t, axes, path)
				for _, a := range axes {
					require.Equal(t, len(a.Splits), len(a.Values), a.ID)
					require.GreaterOrEqual(t, len(a.Splits), 2, "%s %s: its ticks", path, a.ID)
					days := a.Splits[1]-a.Splits[0] >= 86400
					for i, s := range a.Splits {
						at := time.Unix(int64(s), 0).UTC()
						label := strings.Split(a.Values[i], "\n")
						if days {
							assert.Equal(t, at.Format("01-02"), label[0], "%s %s %s: a day's tick", path, a.ID, vp.Name)
							assert.Zero(t, int64(s)%86400, "%s %s: the day's tick at midnight UTC", path, a.ID)
						} else {
							assert.Equal(t, at.Format("15:04"), label[0], "%s %s %s: an hour's tick", path, a.ID, vp.Name)
							assert.Zero(t, int64(s)%3600, "%s %s: the tick on a UTC hour", path, a.ID)
							// The date under midnight's tick, and under the first when it has room.
							if at.Hour() == 0 && at.Minute() == 0 {
								assert.Equal(t, []string{at.Format("15:04"), at.Format("2006-01-02")}, label, "%s %s: midnight names its day", path, a.ID)
							} else if len(label) > 1 {
								assert.Zero(t, i, "%s %s %q: only midnight and the first tick name their day", path, a.ID, a.Values[i])
								assert.Equal(t, at.Format("2006-01-02"), label[1], "%s %s: the first tick's day", path, a.ID)
							}
						}
					}
					first, layout := time.Unix(int64(a.First), 0).UTC(), "2006-01-02 15:04"
					if first.Second() != 0 {
						layout += ":05"
					}
					assert.Equal(t, first.Format(layout)+" UTC", a.Legend, "%s %s: the legend's time", path, a.ID)
				}
				p.NoErrors(path)
			}
		}
	})

	t.Run("the phone's overview shows Health and Open episodes", func(t *testing.T) {
		p := b.Open(t, srv.URL+"/", phone)
		var cols []struct {
			Text  string  `json:"text"`
			Left  float64 `json:"left"`
			Right float64 `json:"right"`
		}
		p.Eval(`[...document.querySelectorAll("#devices tbody tr:first-child > *")].map(c => {
			const r = c.getBoundingClientRect(); return {text: c.dataset.label || c.textContent.trim(), left: r.left, right: r.right}; })`, &cols)
		require.NotEmpty(t, cols)
		var width float64
		p.Eval(`window.innerWidth`, &width)
		var seen []string
		for _, c := range cols {
			if c.Left >= 0 && c.Right <= width+0.5 {
				seen = append(seen, c.Text)
			}
		}
		joined := strings.Join(seen, " | ")
		assert.Contains(t, joined, "Health", "the Health cell inside the 390 px: %v", cols)
		assert.Contains(t, joined, "Open episodes", "the Open episodes cell inside the 390 px: %v", cols)
		var hint string
		p.Eval(`document.querySelector("#devices .spark-range") ? document.querySelector("#devices .spark-range").textContent : ""`, &hint)
		assert.Regexp(t, `^\d+\.\d–\d+\.\d °C$`, hint, "the sparkline's scale")
		p.Accessibility()
		p.NoErrors("overview")
	})

	t.Run("the heatmap's newest hour is on a laptop's screen", func(t *testing.T) {
		for _, path := range []string{"/heatmap", "/heatmap?by=health", "/heatmap?scale=fixed"} {
			p := b.Open(t, srv.URL+path, desktop)
			var last struct {
				Text  string  `json:"text"`
				Right float64 `json:"right"`
				Width float64 `json:"width"`
			}
			p.Eval(`(() => { const th = [...document.querySelectorAll("#heatmap thead th")].pop(); const td = document.querySelector("#heatmap tbody tr td:last-child");
				return {text: th.textContent, right: td.getBoundingClientRect().right, width: window.innerWidth}; })()`, &last)
			assert.Equal(t, l.End.Add(-time.Hour).UTC().Format("15"), last.Text, "%s: the newest column is the hour before the lake's end", path)
			assert.LessOrEqual(t, last.Right, last.Width, "%s: the newest column's cell inside the 1280 px", path)
			var scale string
			p.Eval(`document.querySelector("#scale").textContent`, &scale)
			switch path {
			case "/heatmap?by=health":
				assert.Contains(t, scale, "0 % to 100 %")
			case "/heatmap?scale=fixed":
				assert.Contains(t, scale, "16.0 °C to 28.0 °C")
			default:
				assert.Regexp(t, `\d+\.\d °C to \d+\.\d °C`, scale)
			}
			p.NoErrors(path)
		}
	})

	t.Run("threshold labels apart, a spike outside the range", func(t *testing.T) {
		for _, vp := range browser.Viewports {
			p := b.Open(t, srv.URL+"/device/room-000", vp)
			p.WaitFor(`window.iotwatch && window.iotwatch.charts.length === 4`, 10*time.Second)
			// A flat day's temperature with one injected spike, and thresholds 0.5 °C apart.
			p.Eval(`(() => {
				const x = [], v = [];
				for (let i = 0; i < 600; i++) { x.push(1773100800 + i * 60); v.push(21 + Math.sin(i / 60)); }
				v[300] = 85;
				const spec = {id: "spiked", title: "Temperature", unit: "°C", x: x, series: [{label: "Temperature", values: v, color: "#b3261e"}],
					thresholds: [{label: "a low", value: 19.5, severity: "WARNING"}, {label: "a low", value: 20, severity: "VIOLATION"},
						{label: "a high", value: 23, severity: "WARNING"}, {label: "a high", value: 23.8, severity: "VIOLATION"}], points: 600};
				const fig = document.createElement("figure");
				fig.className = "chart"; fig.id = "chart-spiked";
				fig.innerHTML = '<div class="plot" role="img" aria-label="a spike"></div><script type="application/json"></script>';
				fig.querySelector("script").textContent = JSON.stringify(spec);
				document.querySelector(".charts").prepend(fig);
				window.iotwatch.draw(fig);
				return true; })()`, new(bool))
			type state struct {
				Outliers int     `json:"outliers"`
				Note     string  `json:"note"`
				Max      float64 `json:"max"`
				Labels   []struct {
					Y, Height float64
				} `json:"labels"`
			}
			read := func() state {
				var s state
				p.Eval(`(() => { const c = window.iotwatch.charts.find(c => c.id === "spiked");
					return {outliers: c.outliers, note: document.querySelector("#chart-spiked .outliers").textContent, max: c.u.scales.y.max, labels: c.labels}; })()`, &s)
				return s
			}
			apart := func(s state, what string) {
				require.Len(t, s.Labels, 4)
				ys := []float64{}
				for _, l := range s.Labels {
					ys = append(ys, l.Y)
				}
				sort.Float64s(ys)
				for i := 1; i < len(ys); i++ {
					assert.GreaterOrEqual(t, ys[i]-ys[i-1], s.Labels[0].Height-0.01, "%s %s: labels at %v", vp.Name, what, ys)
				}
			}
			s := read()
			assert.Equal(t, 1, s.Outliers)
			assert.Contains(t, s.Note, "1 point outside the range shown (the furthest 85.0 °C)")
			assert.Less(t, s.Max, 30.0, "the spike left out of the range")
			apart(s, "outliers ignored")
			p.Run(chromedp.Click("#chart-spiked .outliers button", chromedp.ByQuery))
			s = read()
			assert.Greater(t, s.Max, 85.0, "every point shown")
			assert.Contains(t, s.Note, "Every point shown")
			apart(s, "every point")
			p.NoErrors("device")
		}
	})
}
