package dashboard

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
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
// accessibility checks, and a screenshot of each; then what a person reads (readInABrowser).
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
					var keys map[string]int // chart id → the lines of its key, shown
					p.Eval(`Object.fromEntries([...document.querySelectorAll("figure.chart")].map(f => [f.id,
						[...f.querySelectorAll(".chart-key li")].filter(li => li.getClientRects().length > 0).length]))`, &keys)
					assert.Equal(t, map[string]int{"chart-temperature": 3, "chart-humidity": 0, "chart-co2": 0, "chart-light": 0}, keys,
						"the temperature chart's episode and its two thresholds, nothing on the others")
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
	readInABrowser(t, b, l, srv)
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
	p.WaitFor(`location.search.includes("device=room-001") && document.readyState === "complete"`, 5*time.Second)
	assert.Equal(t, 3, count())
	p.Run(chromedp.Click("#f-open", chromedp.ByID), chromedp.Click(`button[type=submit]`, chromedp.ByQuery))
	p.WaitFor(`location.search.includes("open=1") && document.readyState === "complete"`, 5*time.Second)
	assert.Equal(t, 0, count(), "room-001 has no open episode")
	var text string
	p.Run(chromedp.Text("#episodes tbody", &text, chromedp.ByQuery))
	assert.True(t, strings.Contains(text, "No episode matches."), text)
	p.NoErrors("alerts")
}

// TestReportInABrowser opens the report as a file: it requests nothing but itself, draws every
// device's charts with the lake's hourly points, and shows the fleet's health and the alerts by rule.
func TestReportInABrowser(t *testing.T) {
	b := browser.Start(t)
	l := smallLake(t)
	s := newServer(t, l, nil)
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, s.Report(context.Background(), f, l.End.Add(-48*time.Hour), l.End))
	require.NoError(t, f.Close())
	p := b.Open(t, "file://"+path, browser.Viewports[0])
	p.WaitFor(`window.iotwatch && window.iotwatch.charts.length === 12`, 10*time.Second) // 3 devices × 4 charts
	var points map[string]int
	p.Eval(`Object.fromEntries(window.iotwatch.charts.map(c => [c.id, c.u.data[0].length]))`, &points)
	for id, n := range points {
		want := 48 // hourly points over two days
		if strings.HasPrefix(id, l.Silent) {
			want = 46 // silent for the last two hours
		}
		assert.Equal(t, want, n, id)
	}
	for _, u := range p.Requests() {
		assert.True(t, strings.HasPrefix(u, "file://") || strings.HasPrefix(u, "data:"), "the report requested %s", u)
	}
	var fleet, rules string
	p.Run(chromedp.Text("#fleet tbody", &fleet, chromedp.ByQuery), chromedp.Text("#by-rule tbody", &rules, chromedp.ByQuery))
	assert.Contains(t, fleet, "Room 2 (room-002)")
	assert.Contains(t, rules, "temperature_high")
	p.NoErrors("report")
	if d := os.Getenv("IOTWATCH_SCREENSHOTS"); d != "" {
		p.Screenshot(d, "report")
	}
}
