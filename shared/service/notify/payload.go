package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
)

// Message is one alert to deliver, with what its texts need.
type Message struct {
	Alert alert.Alert
	// Device is the alert's device, for its label and location ("" name: the id alone).
	Device device.Device
	// EpisodeStartMs is the episode's OPEN window start when the caller knows it (the evaluator
	// does); 0: the alert's window_start_ms (see channel.EpisodeStart: an ESCALATE needs it).
	EpisodeStartMs int64
	// AckLink and SnoozeLink are the alert's one-click links ("" when none).
	AckLink, SnoozeLink string
	// Held are, for a DIGEST, the alerts it lists.
	Held []alert.Alert
	// Reader is how the message's person reads its texts: their units and time zone, the
	// metrics' units of the catalog (the zero value: metric, UTC, the built-ins' units; see
	// user.User.Presentation).
	Reader alert.Presentation
	// test marks the message Test sends.
	test bool
}

// Text is what people read of a message, in every channel: a one-line title (the email
// subject, PagerDuty's summary), a body (the email's), a short text (the SMS), and facts shown
// as fields (Slack) or a fact set (Teams). The one-click links are not in it: each channel adds
// them its own way (buttons, actions, the email's and SMS's link lines).
type Text struct {
	Title string
	Body  string
	Short string
	Facts []Fact
}

// Fact is one named figure of a message: "Device", "Value", "Threshold".
type Fact struct {
	Name, Value string
}

// Texter makes a message's text. The default, DefaultText, takes shared/domain/alert's texts
// (Subject, Email, SMS, DigestTexts) as the message's Reader reads them.
type Texter func(m *Message) Text

// DefaultText is the text of a message from shared/domain/alert's email texts, values in the
// reader's units and times on the reader's clock (m.Reader).
func DefaultText(m *Message) Text {
	a, p := &m.Alert, m.Reader
	if a.Kind == alert.Digest {
		subject, body, sms := p.DigestTexts(a, m.Held, func(id string) string { return id })
		return Text{Title: subject, Body: body, Short: sms, Facts: []Fact{{"Held alerts", a.ObservedValue.String()}, {"Highest severity", string(a.Severity)}}}
	}
	facts := []Fact{{"Device", m.Device.Label()}}
	if m.Device.Location != "" {
		facts = append(facts, Fact{"Location", m.Device.Location})
	}
	facts = append(facts, Fact{"Rule", string(a.Rule)}, Fact{"Severity", string(a.Severity) + " " + string(a.Kind)})
	// The value is in the metric's unit (as the reader reads it), the threshold too but for the
	// rules whose threshold is something else (DESIGN.md): a duration for silent and stuck,
	// standard deviations for anomaly.
	value, _ := p.Figures(a.Metric, a.ObservedValue, alert.Number{})
	var threshold string
	switch {
	case a.Rule == alert.DeviceSilent:
		value, threshold = a.ObservedValue.String()+" s", a.ThresholdValue.String()+" s"
	case strings.HasSuffix(string(a.Rule), "_stuck"):
		threshold = a.ThresholdValue.String() + " s unchanged"
	case strings.HasSuffix(string(a.Rule), "_anomaly"):
		threshold = a.ThresholdValue.String() + " standard deviations"
	default:
		value, threshold = p.Figures(a.Metric, a.ObservedValue, a.ThresholdValue)
	}
	if a.ObservedValue.Valid {
		facts = append(facts, Fact{"Value", value})
	}
	if a.ThresholdValue.Valid {
		facts = append(facts, Fact{"Threshold", threshold})
	}
	facts = append(facts, Fact{"Time", p.Time(a.AlertTime)})
	return Text{Title: p.Subject(a, m.Device), Body: p.Email(a, m.Device), Short: p.SMS(a, m.Device), Facts: facts}
}

// testText is the text of the message Test sends.
func testText(c *channel.Channel) Text {
	return Text{
		Title: "[iotwatch] Test message: this channel works",
		Body: "This is a test message from iotwatch (`iotwatch channels test`) to " + c.UserID + "'s " + string(c.Kind) +
			" channel. No device is alarming; nothing needs doing.",
		Short: "iotwatch test message to this channel: no device is alarming.",
		Facts: []Fact{{"Channel", c.Redacted()}, {"Min severity", string(c.MinSeverity)}},
	}
}

// TestDevice and TestRule name the device and rule of the test message's alert (its Via is
// "test", and webhook requests carry X-Iotwatch-Test: true).
const (
	TestDevice = "iotwatch-test"
	TestRule   = alert.Rule("channel_test")
)

func testMessage(c *channel.Channel, now time.Time) Message {
	a := alert.Alert{Kind: alert.Open, AlertTime: now.UTC().Truncate(time.Second), UserID: c.UserID, DeviceID: TestDevice, Rule: TestRule,
		Severity: alert.Warning, WindowStartMs: now.UnixMilli(), WindowEndMs: now.UnixMilli(), Via: "test"}
	a.AlertID = alert.ID(&a)
	return Message{Alert: a, Device: device.Device{ID: TestDevice, Name: "iotwatch channel test"}, test: true}
}

// linkSet are the links the texts may carry.
type linkSet struct {
	device, ack, snooze string
}

func linksOf(m *Message, deviceURL func(string) string) linkSet {
	l := linkSet{ack: m.AckLink, snooze: m.SnoozeLink}
	if deviceURL != nil && m.Alert.DeviceID != "" && !m.test {
		l.device = deviceURL(m.Alert.DeviceID)
	}
	return l
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// slackEscape escapes what Slack reads as markup in mrkdwn text (&, <, >): a device name
// "<!channel>" must not ping a whole channel.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackBody is a Slack incoming-webhook message: `text` is the notification's and the fallback's,
// `blocks` what Slack shows (a header, a section with the body and the facts as fields, and
// buttons to the device page and the one-click links). Block Kit's limits: a header's text 150
// characters, a section's 3000, at most 10 fields of 2000 each.
func slackBody(t Text, l linkSet) ([]byte, error) {
	type text struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Emoji bool   `json:"emoji,omitempty"`
	}
	type element struct {
		Type     string `json:"type"`
		Text     text   `json:"text"`
		URL      string `json:"url"`
		ActionID string `json:"action_id"`
	}
	type block struct {
		Type     string `json:"type"`
		Text     *text  `json:"text,omitempty"`
		Fields   []text `json:"fields,omitempty"`
		Elements []any  `json:"elements,omitempty"`
	}
	blocks := []block{{Type: "header", Text: &text{Type: "plain_text", Text: truncate(t.Title, 150)}}}
	sec := block{Type: "section", Text: &text{Type: "mrkdwn", Text: truncate(slackEscape.Replace(strings.TrimSpace(t.Body)), 3000)}}
	for i, f := range t.Facts {
		if i == 10 {
			break
		}
		sec.Fields = append(sec.Fields, text{Type: "mrkdwn", Text: truncate("*"+slackEscape.Replace(f.Name)+"*\n"+slackEscape.Replace(f.Value), 2000)})
	}
	blocks = append(blocks, sec)
	var buttons []any
	for _, b := range []struct{ label, url, id string }{{"Device page", l.device, "device"}, {"Acknowledge", l.ack, "ack"}, {"Snooze 1 h", l.snooze, "snooze"}} {
		if b.url != "" {
			buttons = append(buttons, element{Type: "button", Text: text{Type: "plain_text", Text: b.label}, URL: b.url, ActionID: b.id})
		}
	}
	if len(buttons) > 0 {
		blocks = append(blocks, block{Type: "actions", Elements: buttons})
	}
	fallback := t.Title
	if l.device != "" {
		fallback += " " + l.device
	}
	return json.Marshal(struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}{slackEscape.Replace(fallback), blocks})
}

// AdaptiveCardType is the content type of an Adaptive Card attachment.
const AdaptiveCardType = "application/vnd.microsoft.card.adaptive"

// teamsBody is a message for a Teams Workflows ("Post to a channel when a webhook request is
// received") webhook: one attachment holding an Adaptive Card 1.4 with the title, the body, the
// facts as a FactSet and the links as Action.OpenUrl.
func teamsBody(t Text, l linkSet, sev alert.Severity, kind alert.Kind) ([]byte, error) {
	color := "Warning"
	switch {
	case kind == alert.Resolve:
		color = "Good"
	case sev == alert.Violation:
		color = "Attention"
	}
	facts := make([]map[string]string, 0, len(t.Facts))
	for _, f := range t.Facts {
		facts = append(facts, map[string]string{"title": f.Name, "value": f.Value})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": t.Title, "size": "Medium", "weight": "Bolder", "color": color, "wrap": true},
		{"type": "FactSet", "facts": facts},
	}
	// One TextBlock a line: Teams reads a TextBlock's text as markdown, where a single line
	// break does not break the line.
	for _, line := range strings.Split(strings.TrimSpace(t.Body), "\n") {
		if strings.TrimSpace(line) != "" {
			body = append(body, map[string]any{"type": "TextBlock", "text": line, "wrap": true, "isSubtle": true, "spacing": "None"})
		}
	}
	var actions []map[string]string
	for _, b := range []struct{ label, url string }{{"Device page", l.device}, {"Acknowledge", l.ack}, {"Snooze 1 h", l.snooze}} {
		if b.url != "" {
			actions = append(actions, map[string]string{"type": "Action.OpenUrl", "title": b.label, "url": b.url})
		}
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return json.Marshal(map[string]any{
		"type":        "message",
		"attachments": []map[string]any{{"contentType": AdaptiveCardType, "contentUrl": nil, "content": card}},
	})
}

// DefaultPagerDutyURL is PagerDuty's Events API v2 endpoint.
const DefaultPagerDutyURL = fnenv.DefaultPagerDutyURL

// pagerDutyEvent is an Events API v2 event. A trigger carries the payload; acknowledge and
// resolve need only the routing key, the action and the dedup key.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction channel.Event     `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string      `json:"summary"`
	Source        string      `json:"source"`
	Severity      string      `json:"severity"`
	Timestamp     string      `json:"timestamp"`
	Component     string      `json:"component,omitempty"`
	Group         string      `json:"group,omitempty"`
	Class         string      `json:"class,omitempty"`
	CustomDetails alert.Alert `json:"custom_details"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pagerDutyBody is the event an alert makes for a PagerDuty channel (channel.EventOf), keyed by
// its episode (channel.EpisodeKey). summary is at most 1024 characters (PagerDuty's limit).
func pagerDutyBody(c *channel.Channel, m *Message, t Text, l linkSet) ([]byte, error) {
	a := &m.Alert
	ev := pagerDutyEvent{RoutingKey: c.Target, EventAction: channel.EventOf(a), DedupKey: channel.EpisodeKey(a, m.EpisodeStartMs)}
	if ev.EventAction == "" {
		return nil, fmt.Errorf("a %s alert makes no PagerDuty event", a.Kind)
	}
	if ev.EventAction == channel.Trigger {
		sev := channel.PagerDutySeverity(a.Severity)
		if m.test {
			sev = "info"
		}
		ev.Payload = &pagerDutyPayload{Summary: truncate(t.Title, 1024), Source: m.Device.Label(), Severity: sev,
			Timestamp: a.AlertTime.UTC().Format(time.RFC3339Nano), Component: a.DeviceID, Group: m.Device.Location, Class: string(a.Rule), CustomDetails: *a}
		ev.Client = "iotwatch"
		ev.ClientURL = l.device
		for _, k := range []pagerDutyLink{{l.device, "Device page"}, {l.ack, "Acknowledge in iotwatch"}, {l.snooze, "Snooze 1 h in iotwatch"}} {
			if k.Href != "" {
				ev.Links = append(ev.Links, k)
			}
		}
	}
	return json.Marshal(ev)
}
