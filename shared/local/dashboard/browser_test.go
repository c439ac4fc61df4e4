package dashboard

import (
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/browser"
)

// screenshotDir is where the pages' screenshots go: IOTWATCH_SCREENSHOTS (make screenshots:
// docs/screenshots), or the test's temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("IOTWATCH_SCREENSHOTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// TestPagesInABrowser loads every page in headless Chromium at a laptop's and a phone's size: no
// console error or failed request, the charts drawn with the points the lake holds, the
// accessibility checks, and a screenshot of each.
func TestPagesInABrowser(t *testing.T) {
	b := browser.Start(t)
	l := smallLake(t)
	srv := httptest.NewServer(newServer(t, l, nil))
	defer srv.Close()
	dir := screenshotDir(t)
	pages := []struct {
		name, path string
		charts     map[string]int // chart id → points
	}{
		{"overview", "/", nil},
		{"device", "/device/room-000", map[string]int{"temperature": 1440, "humidity": 1440, "co2": 1440, "light": 1440}},
		{"device-7d", "/device/room-001?range=7d", map[string]int{"temperature": 48, "light": 48}},
		{"alerts", "/alerts", nil},
		{"heatmap", "/heatmap", nil},
		{"pipeline", "/pipeline", map[string]int{"throughput": 24}},
	}
	for _, vp := range browser.Viewports {
		for _, pg := range pages {
			t.Run(vp.Name+"/"+pg.name, func(t *testing.T) {
				p := b.Open(t, srv.URL+pg.path, vp)
				var figures int
				p.Eval(`document.querySelectorAll("figure.chart").length`, &figures)
				p.WaitFor(`window.iotwatch && window.iotwatch.charts.length === `+strconv.Itoa(figures), 10*time.Second)
				var drawn []struct {
					ID         string `json:"id"`
					Points     int    `json:"points"`
					Canvas     bool   `json:"canvas"`
					Thresholds int    `json:"thresholds"`
				}
				p.Eval(`window.iotwatch.charts.map(c => ({id: c.id, points: c.u.data[0].length, canvas: !!c.u.root.querySelector("canvas"), thresholds: c.thresholds}))`, &drawn)
				got := map[string]int{}
				for _, c := range drawn {
					got[c.ID] = c.Points
					assert.True(t, c.Canvas, c.ID)
				}
				for id, n := range pg.charts {
					assert.Equal(t, n, got[id], "points of chart %s", id)
				}
				if pg.name == "device" {
					assert.Equal(t, 2, drawn[0].Thresholds, "alice's two temperature thresholds")
				}
				if vp.Name == "desktop" { // before the keyboard checks move the focus
					t.Logf("screenshot %s", p.Screenshot(dir, pg.name))
				} else {
					p.Screenshot(dir, pg.name+"-phone")
				}
				p.Accessibility()
				p.NoErrors(pg.path)
			})
		}
	}
}

// TestFiltersInABrowser chooses filters on the alerts page as a person would, and the rows follow.
func TestFiltersInABrowser(t *testing.T) {
	b := browser.Start(t)
	l := smallLake(t)
	srv := httptest.NewServer(newServer(t, l, nil))
	defer srv.Close()
	p := b.Open(t, srv.URL+"/alerts", browser.Viewports[0])
	count := func() int {
		var n int
		p.Eval(`document.querySelectorAll("#episodes tbody tr[data-episode]").length`, &n)
		return n
	}
	assert.Equal(t, 10, count())
	p.Run(chromedp.SetValue("#f-device", "room-001", chromedp.ByID), chromedp.Click(`button[type=submit]`, chromedp.ByQuery), chromedp.WaitReady("#count", chromedp.ByID))
	p.WaitFor(`location.search.includes("device=room-001")`, 5*time.Second)
	assert.Equal(t, 3, count())
	p.Run(chromedp.Click("#f-open", chromedp.ByID), chromedp.Click(`button[type=submit]`, chromedp.ByQuery))
	p.WaitFor(`location.search.includes("open=1")`, 5*time.Second)
	assert.Equal(t, 0, count(), "room-001 has no open episode")
	var text string
	p.Run(chromedp.Text("#episodes tbody", &text, chromedp.ByQuery))
	assert.True(t, strings.Contains(text, "No episode matches."), text)
	p.NoErrors("alerts")
}
