package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/testsupport/browser"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// TestDashboardInABrowser drives the pages of a running pipeline as a person would: the open
// episode's Acknowledge button acknowledges it (the state, the page and the lake's row say so),
// and the overview and pipeline pages update when a reading arrives, with no reload.
func TestDashboardInABrowser(t *testing.T) {
	b := browser.Start(t)
	th := filepath.Join(t.TempDir(), "thresholds.csv")
	require.NoError(t, os.WriteFile(th, []byte("user_id,device_id,temp_warning\nalice,room-1,24\n"), 0o644))
	lakeDir := t.TempDir()
	linksAddr := make(chan string, 1)
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.HTTP, c.LinksReady, c.Clock = "127.0.0.1:0", func(a string) { linksAddr <- a }, runner.ClockWall
	})
	base := "http://" + <-linksAddr
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	publish := func(m int, temp float64) {
		line := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g}`+"\n", t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), temp)
		_, err := simulate.Publish(context.Background(), simulate.NewLines(strings.NewReader(line)), simulate.Options{Broker: p.addr})
		require.NoError(t, err)
	}
	publish(0, 25)
	require.Eventually(t, func() bool { // the episode is open in the run's states
		res, err := http.Get(base + "/api/open")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return strings.Contains(string(body), `"rule":"temperature_high"`)
	}, 10*time.Second, 20*time.Millisecond)

	page := b.Open(t, base+"/alerts?open=1", browser.Viewports[0])
	row := `tr[data-episode="room-1/alice/temperature_high"]`
	var state string
	page.Run(chromedp.Text(row+" td.state", &state, chromedp.ByQuery))
	assert.Contains(t, state, "unacknowledged")
	page.Run(chromedp.Click(row+` form[action="/actions/ack"] button`, chromedp.ByQuery))
	page.WaitFor(`document.querySelector('`+row+` td.state') && document.querySelector('`+row+` td.state').textContent.includes("acknowledged by alice")`, 10*time.Second)
	var buttons []string
	page.Eval(`[...document.querySelectorAll('`+row+` button')].map(b => b.textContent)`, &buttons)
	assert.Equal(t, []string{"Snooze 1 h"}, buttons, "acknowledged: no Acknowledge button any more")
	if d := os.Getenv("IOTWATCH_SCREENSHOTS"); d != "" { // make screenshots
		page.Run(chromedp.Navigate(base + "/alerts"))
		page.Screenshot(d, "alerts-live")
	}
	page.Accessibility()
	page.NoErrors("alerts")

	over := b.Open(t, base+"/", browser.Viewports[1])
	over.WaitFor(`window.iotwatch.events > 0`, 10*time.Second)
	publish(5, 25.5)
	want := t0.Add(5 * time.Minute).Format(time.RFC3339)
	over.WaitFor(`document.querySelector('[data-last-seen="room-1"]').title === "`+want+`"`, 10*time.Second)
	var cell string
	over.Run(chromedp.Text(`[data-last-seen="room-1"]`, &cell, chromedp.ByQuery))
	assert.Contains(t, cell, "(live)")
	over.NoErrors("overview")

	pipe := b.Open(t, base+"/pipeline", browser.Viewports[0])
	pipe.WaitFor(`document.querySelector('.tiles [data-live="readings"]').textContent === "2"`, 10*time.Second)
	publish(6, 25.5)
	pipe.WaitFor(`document.querySelector('.tiles [data-live="readings"]').textContent === "3"`, 10*time.Second)
	var pass string
	pipe.Run(chromedp.Text(`.tiles [data-live="pass_rate_pct"]`, &pass, chromedp.ByQuery))
	assert.Equal(t, "100.00", pass, "every message passed")
	pipe.NoErrors("pipeline")

	// A form posted from another site is refused (cross-origin protection).
	req, _ := http.NewRequest(http.MethodPost, base+"/actions/snooze", strings.NewReader("user=alice&device=room-1&rule=temperature_high&for=1h"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	p.finish(t)
	var rows []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		rows = append(rows, string(a.Kind)+" "+a.Via)
	}
	assert.ElementsMatch(t, []string{"OPEN ", "ACK dashboard"}, rows)
}
