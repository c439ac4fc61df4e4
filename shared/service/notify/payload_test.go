package notify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/testsupport/golden"
)

// TestPayloadsGolden pins each channel's request body for every alert of an escalating
// episode and for a digest (testdata/<kind>.golden; go test -update rewrites them).
func TestPayloadsGolden(t *testing.T) {
	msgs := episodeMessages()
	held := []alert.Alert{msgs[0].Alert, msgs[1].Alert}
	for i := range held {
		held[i].Suppressed = alert.QuietHours
	}
	msgs = append(msgs, Message{Alert: alert.NewDigest("alice", t0.Add(8*60*60e9), held), Held: held})
	deviceURL := func(id string) string { return "https://iotwatch.example.com/devices/" + id }
	for _, kind := range []channel.Kind{channel.Slack, channel.Teams, channel.PagerDuty, channel.Webhook} {
		t.Run(string(kind), func(t *testing.T) {
			c := channel.Channel{UserID: "alice", Kind: kind, Target: routingKey, MinSeverity: alert.Warning}
			var out strings.Builder
			for i := range msgs {
				m := &msgs[i]
				if !routes(m, &c) {
					continue
				}
				var body []byte
				var err error
				tx, l := DefaultText(m), linksOf(m, deviceURL)
				switch kind {
				case channel.Slack:
					body, err = slackBody(tx, l)
				case channel.Teams:
					body, err = teamsBody(tx, l, m.Alert.Severity, m.Alert.Kind)
				case channel.PagerDuty:
					body, err = pagerDutyBody(&c, m, tx, l)
				case channel.Webhook:
					body, err = m.Alert.MarshalJSON()
				}
				require.NoError(t, err)
				var pretty bytes.Buffer
				require.NoError(t, json.Indent(&pretty, body, "", "  "))
				out.WriteString("## " + string(m.Alert.Kind) + "\n" + pretty.String() + "\n")
			}
			golden.Check(t, string(kind)+".golden", out.String())
		})
	}
}

func TestAckIsTheLinksKind(t *testing.T) {
	assert.Equal(t, links.KindAck, channel.Ack, "the row an acknowledgement writes is what PagerDuty channels acknowledge on")
}

func TestDefaultTextFacts(t *testing.T) {
	at := t0
	for _, tc := range []struct {
		a                alert.Alert
		value, threshold string
	}{
		{alert.Alert{Rule: alert.TemperatureHigh, Metric: "temperature", ObservedValue: alert.Num(26.4), ThresholdValue: alert.Num(26)}, "26.4°C", "26°C"},
		{alert.Alert{Rule: "co2_high", Metric: "co2", ObservedValue: alert.Num(1200), ThresholdValue: alert.Num(1000)}, "1200 ppm", "1000 ppm"},
		{alert.Alert{Rule: alert.DeviceSilent, ObservedValue: alert.Num(900), ThresholdValue: alert.Num(900)}, "900 s", "900 s"},
		{alert.Alert{Rule: alert.SensorStuck, Metric: "temperature", ObservedValue: alert.Num(21.5), ThresholdValue: alert.Num(1800)}, "21.5°C", "1800 s unchanged"},
		{alert.Alert{Rule: alert.TemperatureAnomaly, Metric: "temperature", ObservedValue: alert.Num(30), ThresholdValue: alert.Num(3)}, "30°C", "3 standard deviations"},
		{alert.Alert{Rule: alert.TemperatureHigh, Metric: "temperature", ObservedValue: alert.Num(25)}, "25°C", ""}, // a deleted config's RESOLVE
	} {
		tc.a.Kind, tc.a.Severity, tc.a.AlertTime, tc.a.DeviceID = alert.Open, alert.Warning, at, "room-1"
		facts := map[string]string{}
		for _, f := range DefaultText(&Message{Alert: tc.a, Device: room}).Facts {
			facts[f.Name] = f.Value
		}
		assert.Equal(t, tc.value, facts["Value"], "%s value", tc.a.Rule)
		assert.Equal(t, tc.threshold, facts["Threshold"], "%s threshold", tc.a.Rule)
	}
}
