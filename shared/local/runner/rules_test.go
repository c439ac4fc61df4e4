package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// TestRulesForAFleetAndALocation: `run --rules` with a CO₂ rule for the whole fleet and a
// stricter one for a building, and no thresholds file. The building's row wins for its rooms,
// the fleet's for the others; an edit of the file is read while the run goes on ("rules
// reloaded"), a bad edit is refused and the rules in force stay.
func TestRulesForAFleetAndALocation(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.csv")
	write := func(body string, at time.Time) {
		require.NoError(t, os.WriteFile(rules, []byte("user_id,scope,metric,rule,warning,violation,sustain_seconds\n"+body), 0o644))
		require.NoError(t, os.Chtimes(rules, at, at))
	}
	start0 := time.Now().Add(-time.Hour)
	write("ops,fleet,co2,high,1000,1500,0\nops,location:Building A,co2,high,1300,,0\n", start0)
	devices := filepath.Join(dir, "devices.csv")
	require.NoError(t, os.WriteFile(devices, []byte("device_id,name,location\nroom-1,Office 1,Building A\nroom-2,Office 2,Building B\n"), 0o644))
	lakeDir := filepath.Join(dir, "lake")
	var logs syncBuffer
	p := start(t, lakeDir, "", func(c *runner.Config) {
		c.Rules, c.Devices = rules, devices
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	send := func(from int, co2 ...float64) {
		var msgs messages
		for i, v := range co2 {
			for _, dev := range []string{"room-1", "room-2"} {
				msgs = append(msgs, simulate.Message{Topic: "devices/" + dev + "/readings", Payload: fmt.Appendf(nil,
					`{"device_id":%q,"event_time":%q,"co2":%g}`, dev, base.Add(time.Duration(from+i)*time.Minute).Format(time.RFC3339), v)})
			}
		}
		_, err := simulate.Publish(context.Background(), &msgs, simulate.Options{Broker: p.addr})
		require.NoError(t, err)
	}
	assert.Contains(t, logs.String(), "rules reloaded: 2 rows, 1 users")
	send(0, 1200, 1200)

	write("ops,fleet,co2,high,1000,1500,0\nops,location:Building A,co2,high,1100,,0\n", start0.Add(time.Minute)) // stricter
	wait.Until(t, 10*time.Second, "the edit to be read", func() (string, bool) {
		return logs.String(), strings.Count(logs.String(), "rules reloaded") == 2
	})
	time.Sleep(runner.CacheTTL) // the staleness the evaluation allows itself: an edit is in force within it
	send(2, 1200)
	write("ops,fleet,co2,high,1500,1000,0\n", start0.Add(2*time.Minute)) // violation below warning: refused
	wait.Until(t, 10*time.Second, "the bad edit to be refused", func() (string, bool) {
		return logs.String(), strings.Contains(logs.String(), "rules file changed but is invalid")
	})
	send(3, 1600)
	p.finish(t)

	var got []string
	for _, l := range readLake(t, lakeDir, "alerts") {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		got = append(got, fmt.Sprintf("%s %s %s %s @%s thr=%s v%d", a.DeviceID, a.Rule, a.Kind, a.Severity, a.AlertTime.Format("04"), a.ThresholdValue, a.ConfigVersion))
	}
	sort.Strings(got)
	assert.Equal(t, []string{
		"room-1 co2_high OPEN WARNING @02 thr=1100 v2",       // the building's row once it says 1100 (version 2)
		"room-2 co2_high ESCALATE VIOLATION @03 thr=1500 v1", // the fleet's row kept through the bad edit
		"room-2 co2_high OPEN WARNING @00 thr=1000 v1",       // the fleet's row: room-2 is in Building B
	}, got, "room-1's 1200 ppm was under its building's 1300 until the edit")
}

// TestPagesDrawTheRulesInForceNow: the device page of `run --http` draws the thresholds the run
// holds now, on the chart of each rule's metric: after an edit of the rules file and of the
// thresholds file, the next page draws the edited ones, not those of the start.
func TestPagesDrawTheRulesInForceNow(t *testing.T) {
	dir := t.TempDir()
	edits := 0
	write := func(path, body string) {
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		edits++
		at := time.Now().Add(time.Duration(edits) * time.Second) // a new modification time, whatever the clock's grain
		require.NoError(t, os.Chtimes(path, at, at))
	}
	rules, thresholds, devices := filepath.Join(dir, "rules.csv"), filepath.Join(dir, "thresholds.csv"), filepath.Join(dir, "devices.csv")
	write(rules, "user_id,scope,metric,rule,warning,violation\nops,fleet,co2,high,1000,1500\n")
	write(thresholds, "user_id,device_id,temp_warning\nalice,room-1,24\n")
	write(devices, "device_id,name,location\nroom-1,Office 1,Building A\n")
	linksAddr := make(chan string, 1)
	p := start(t, filepath.Join(dir, "lake"), thresholds, func(c *runner.Config) {
		c.Rules, c.Devices, c.HTTP, c.LinksReady = rules, devices, "127.0.0.1:0", func(a string) { linksAddr <- a }
	})
	defer p.finish(t)
	page := "http://" + <-linksAddr + "/device/room-1"
	lines := func() map[string][]string { // chart id → its threshold lines
		res, err := http.Get(page)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		out := map[string][]string{}
		for _, m := range regexp.MustCompile(`(?s)<script type="application/json">(.*?)</script>`).FindAllSubmatch(body, -1) {
			var c struct {
				ID         string
				Thresholds []struct {
					Label string
					Value float64
				}
			}
			require.NoError(t, json.Unmarshal(m[1], &c))
			for _, l := range c.Thresholds {
				out[c.ID] = append(out[c.ID], fmt.Sprintf("%s %g", l.Label, l.Value))
			}
		}
		return out
	}
	assert.Equal(t, map[string][]string{"co2": {"ops co2 high warning 1000", "ops co2 high violation 1500"},
		"temperature": {"alice temperature high warning 24"}}, lines())

	write(rules, "user_id,scope,metric,rule,warning,violation\nops,fleet,co2,high,1000,1500\nops,location:Building A,co2,high,900,\nops,fleet,humidity,low,25,20\n")
	write(thresholds, "user_id,device_id,temp_warning\nalice,room-1,26\n")
	want := map[string][]string{"co2": {"ops co2 high warning 900"}, "humidity": {"ops humidity low warning 25", "ops humidity low violation 20"},
		"temperature": {"alice temperature high warning 26"}}
	wait.Until(t, 10*time.Second, "the page to draw the edited rules", func() (string, bool) {
		got := lines()
		return fmt.Sprint(got), assert.ObjectsAreEqual(want, got)
	})
}
