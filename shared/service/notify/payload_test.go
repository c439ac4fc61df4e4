package notify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// TestDefaultTextInTheReadersUnits: an imperial reader in Chicago reads °F and Chicago's clock
// in every part of the text (title, body, short text, facts); thresholds that are not
// temperatures stay as they are, and the PagerDuty event's custom_details stay the alert's SI
// JSON.
func TestDefaultTextInTheReadersUnits(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	reader := alert.Presentation{Units: alert.ImperialUnits, Zone: chicago}
	m := episodeMessages()[0] // OPEN, 26.4 °C > 26 °C at 2026-12-07 10:00 UTC
	m.Reader = reader
	tx := DefaultText(&m)
	facts := map[string]string{}
	for _, f := range tx.Facts {
		facts[f.Name] = f.Value
	}
	assert.Equal(t, map[string]string{"Value": "79.5°F", "Threshold": "78.8°F", "Time": "2026-12-07 04:00:00 CST"},
		map[string]string{"Value": facts["Value"], "Threshold": facts["Threshold"], "Time": facts["Time"]})
	assert.Contains(t, tx.Body, "Reading:   temperature 79.5°F > 78.8°F\nTime:      2026-12-07 04:00:00 CST (America/Chicago)\n")
	assert.Contains(t, tx.Short, "79.5°F > 78.8°F Dec 7 04:00 CST")

	stuck := m
	stuck.Alert.Rule, stuck.Alert.ObservedValue, stuck.Alert.ThresholdValue = alert.SensorStuck, alert.Num(21.5), alert.Num(1800)
	facts = map[string]string{}
	for _, f := range DefaultText(&stuck).Facts {
		facts[f.Name] = f.Value
	}
	assert.Equal(t, "70.7°F", facts["Value"])
	assert.Equal(t, "1800 s unchanged", facts["Threshold"], "seconds are not converted")

	c := channel.Channel{UserID: "alice", Kind: channel.PagerDuty, Target: routingKey, MinSeverity: alert.Warning}
	body, err := pagerDutyBody(&c, &m, tx, linksOf(&m, nil))
	require.NoError(t, err)
	assert.Contains(t, string(body), `"observed_value":26.4,"threshold_value":26`, "custom_details: the alert in SI")
	assert.Contains(t, string(body), `"alert_time":"2026-12-07T10:00:00Z"`)
}
