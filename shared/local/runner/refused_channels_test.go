package runner_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
)

// TestARefusedStartWithChannelsLeavesNoLake: the refused-start undo does not know the
// notify/ directory that outbox.Open makes before the broker starts.
func TestARefusedStartWithChannelsLeavesNoLake(t *testing.T) {
	th, _ := thresholdsFile(t)
	chans := filepath.Join(t.TempDir(), "channels.csv")
	require.NoError(t, os.WriteFile(chans, []byte("user_id,channel,target,min_severity,secret\nalice,slack,https://hooks.slack.com/services/T/B/x,,\n"), 0o644))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	newLake := filepath.Join(t.TempDir(), "lake")
	_, err = runner.Run(context.Background(), runner.Config{Lake: newLake, Thresholds: th, MQTT: busy.Addr().String(), Channels: chans})
	require.ErrorContains(t, err, "listening for MQTT")
	if _, serr := os.Stat(newLake); serr == nil {
		ents, _ := os.ReadDir(newLake)
		for _, e := range ents {
			t.Logf("left in the new lake: %s", e.Name())
		}
	}
	assert.NoDirExists(t, newLake)
}

// TestCheckRefusesAPlainPagerDutyURLAndANegativeDrain: Check validates channel targets' schemes
// (channel.ValidURL) but not --pagerduty-url, where every PagerDuty routing key goes, nor
// --notify-drain.
func TestCheckRefusesAPlainPagerDutyURLAndANegativeDrain(t *testing.T) {
	c := runner.Config{Lake: t.TempDir(), Channels: "x.csv"}
	c.Notify.PagerDutyURL = "http://events.example.com/v2/enqueue"
	assert.ErrorContains(t, c.Check(), "--pagerduty-url", "an http PagerDuty endpoint on a public host sends routing keys in clear")
	c.Notify.PagerDutyURL = "http://127.0.0.1:9/v2/enqueue"
	assert.NoError(t, c.Check(), "a local fake")
	c.NotifyDrain = -5 * time.Second
	assert.ErrorContains(t, c.Check(), "--notify-drain -5s")
}
