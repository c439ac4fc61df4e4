package channel

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// step is one alert of an episode: its kind, severity, minutes after t0, and suppression.
type step struct {
	kind alert.Kind
	sev  alert.Severity
	min  int
	sup  alert.Suppression
}

// episode makes the alerts of one episode of alice's temperature_high on room-1 that opened at
// t0, as the evaluator makes them: an ESCALATE's window is its own VIOLATION run, the others
// carry the OPEN's.
func episode(steps ...step) []alert.Alert {
	out := make([]alert.Alert, len(steps))
	for i, s := range steps {
		a := alert.Alert{Kind: s.kind, Severity: s.sev, AlertTime: t0.Add(time.Duration(s.min) * time.Minute), UserID: "alice",
			DeviceID: "room-1", Rule: alert.TemperatureHigh, WindowStartMs: t0.UnixMilli(), Suppressed: s.sup}
		if s.kind == alert.Escalate {
			a.WindowStartMs = t0.Add(time.Duration(s.min-5) * time.Minute).UnixMilli()
		}
		a.AlertID = alert.ID(&a)
		out[i] = a
	}
	return out
}

// sent lists the alerts of an episode that go to c, as "KIND" or, for PagerDuty, "KIND>event".
func sent(alerts []alert.Alert, c *Channel) string {
	var out []string
	for i := range alerts {
		if !Routes(&alerts[i], c) {
			continue
		}
		s := string(alerts[i].Kind)
		if c.Kind == PagerDuty {
			s += ">" + string(EventOf(&alerts[i])) + ":" + PagerDutySeverity(alerts[i].Severity)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestRoutesWholeEpisodes(t *testing.T) {
	slackW := &Channel{Kind: Slack, MinSeverity: alert.Warning}
	slackV := &Channel{Kind: Slack, MinSeverity: alert.Violation}
	pdW := &Channel{Kind: PagerDuty} // default WARNING
	pdV := &Channel{Kind: PagerDuty, MinSeverity: alert.Violation}
	W, V := alert.Warning, alert.Violation
	for _, tc := range []struct {
		name                     string
		steps                    []step
		slackW, slackV, pdW, pdV string
	}{
		{
			name:   "a warning that never escalates",
			steps:  []step{{alert.Open, W, 0, ""}, {alert.Remind, W, 60, ""}, {alert.Resolve, W, 90, ""}},
			slackW: "OPEN REMIND RESOLVE", slackV: "",
			pdW: "OPEN>trigger:warning REMIND>trigger:warning RESOLVE>resolve:warning", pdV: "",
		},
		{
			name: "a warning that escalates, is acknowledged, resolves",
			steps: []step{{alert.Open, W, 0, ""}, {alert.Remind, W, 60, ""}, {alert.Escalate, V, 70, ""}, {alert.Remind, V, 130, ""},
				{Ack, V, 131, ""}, {alert.Resolve, V, 200, ""}},
			slackW: "OPEN REMIND ESCALATE REMIND RESOLVE", slackV: "ESCALATE REMIND RESOLVE",
			pdW: "OPEN>trigger:warning REMIND>trigger:warning ESCALATE>trigger:critical REMIND>trigger:critical ACK>acknowledge:critical RESOLVE>resolve:critical",
			pdV: "ESCALATE>trigger:critical REMIND>trigger:critical ACK>acknowledge:critical RESOLVE>resolve:critical",
		},
		{
			name:   "opens at violation",
			steps:  []step{{alert.Open, V, 0, ""}, {alert.Resolve, V, 10, ""}},
			slackW: "OPEN RESOLVE", slackV: "OPEN RESOLVE",
			pdW: "OPEN>trigger:critical RESOLVE>resolve:critical", pdV: "OPEN>trigger:critical RESOLVE>resolve:critical",
		},
		{
			name: "opens in quiet hours, escalates past them",
			steps: []step{{alert.Open, W, 0, alert.QuietHours}, {alert.Remind, W, 60, alert.QuietHours}, {alert.Escalate, V, 70, ""},
				{alert.Resolve, V, 80, ""}},
			slackW: "ESCALATE RESOLVE", slackV: "ESCALATE RESOLVE",
			pdW: "ESCALATE>trigger:critical RESOLVE>resolve:critical", pdV: "ESCALATE>trigger:critical RESOLVE>resolve:critical",
		},
		{
			name: "snoozed while open: PagerDuty's incident still resolved",
			steps: []step{{alert.Open, V, 0, ""}, {"SNOOZE", V, 5, ""}, {alert.Remind, V, 60, alert.Snoozed},
				{alert.Resolve, V, 61, alert.Snoozed}},
			slackW: "OPEN", slackV: "OPEN",
			pdW: "OPEN>trigger:critical RESOLVE>resolve:critical", pdV: "OPEN>trigger:critical RESOLVE>resolve:critical",
		},
		{
			name:   "snoozed throughout, snooze rows not sent",
			steps:  []step{{"SNOOZE", W, 1, ""}, {alert.Open, W, 2, alert.Snoozed}, {alert.Escalate, V, 9, alert.Snoozed}, {"UNSNOOZE", V, 10, ""}, {alert.Resolve, V, 20, ""}},
			slackW: "RESOLVE", slackV: "RESOLVE",
			pdW: "RESOLVE>resolve:critical", pdV: "RESOLVE>resolve:critical",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := episode(tc.steps...)
			assert.Equal(t, tc.slackW, sent(as, slackW), "slack WARNING")
			assert.Equal(t, tc.slackV, sent(as, slackV), "slack VIOLATION")
			assert.Equal(t, tc.pdW, sent(as, pdW), "pagerduty WARNING")
			assert.Equal(t, tc.pdV, sent(as, pdV), "pagerduty VIOLATION")
			for _, k := range []Kind{Teams, Webhook, Email, SMS} {
				assert.Equal(t, tc.slackW, sent(as, &Channel{Kind: k}), "%s routes as slack", k)
			}
		})
	}
}

func TestDigestRoutes(t *testing.T) {
	held := episode(step{alert.Open, alert.Warning, 0, alert.QuietHours}, step{alert.Remind, alert.Warning, 60, alert.QuietHours})
	heldV := append(held, episode(step{alert.Escalate, alert.Violation, 70, alert.QuietHours})...)
	for _, tc := range []struct {
		name string
		held []alert.Alert
		c    Channel
		want bool
	}{
		{"warnings to a WARNING channel", held, Channel{Kind: Slack}, true},
		{"warnings to a VIOLATION channel", held, Channel{Kind: Teams, MinSeverity: alert.Violation}, false},
		{"a held violation to a VIOLATION channel", heldV, Channel{Kind: Webhook, MinSeverity: alert.Violation}, true},
		{"never PagerDuty", heldV, Channel{Kind: PagerDuty}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, DigestRoutes(tc.held, &tc.c))
			d := alert.NewDigest("alice", t0.Add(8*time.Hour), tc.held)
			assert.Equal(t, tc.want, Routes(&d, &tc.c), "the digest's own severity decides the same")
		})
	}
}

func TestEpisodeKey(t *testing.T) {
	as := episode(step{alert.Open, alert.Warning, 0, ""}, step{alert.Remind, alert.Warning, 60, ""}, step{alert.Escalate, alert.Violation, 70, ""},
		step{Ack, alert.Violation, 75, ""}, step{alert.Resolve, alert.Violation, 80, ""})
	k := EpisodeKey(&as[0], 0)
	assert.Len(t, k, 32)
	for i := range as {
		known := int64(0)
		if as[i].Kind == alert.Escalate {
			known = t0.UnixMilli() // the alarm state's OpenStart
		}
		assert.Equal(t, k, EpisodeKey(&as[i], known), "%s names the episode", as[i].Kind)
	}
	assert.NotEqual(t, k, EpisodeKey(&as[2], 0), "an ESCALATE with no known start names its own window (the contract gap)")

	next := episode(step{alert.Open, alert.Warning, 100, ""})
	next[0].WindowStartMs = t0.Add(100 * time.Minute).UnixMilli()
	assert.NotEqual(t, k, EpisodeKey(&next[0], 0), "the next episode of the same rule is another")
	other := as[0]
	other.Rule = alert.TemperatureLow
	assert.NotEqual(t, k, EpisodeKey(&other, 0))
}

func TestEventOf(t *testing.T) {
	for k, want := range map[alert.Kind]Event{alert.Open: Trigger, alert.Escalate: Trigger, alert.Remind: Trigger, alert.Resolve: ResolveIt,
		Ack: Acknowledge, alert.Digest: "", "SNOOZE": ""} {
		assert.Equal(t, want, EventOf(&alert.Alert{Kind: k}), k)
	}
}

// TestARaisedMinSeverityStillAcknowledgesTheIncident: a PagerDuty channel's min_severity raised
// while an episode it paged for is open: the episode's ACK still reaches it (the incident stops
// paging); its REMINDs and RESOLVE do not (a RESOLVE of every lower episode would spend
// PagerDuty's rate limit: the incident is resolved in PagerDuty); a Slack channel raised alike
// gets none of them.
func TestARaisedMinSeverityStillAcknowledgesTheIncident(t *testing.T) {
	as := episode(step{alert.Open, alert.Warning, 0, ""}, step{alert.Remind, alert.Warning, 60, ""},
		step{Ack, alert.Warning, 61, ""}, step{alert.Resolve, alert.Warning, 90, ""})
	assert.Equal(t, "OPEN>trigger:warning", sent(as[:1], &Channel{Kind: PagerDuty}), "before the edit")
	raised := &Channel{Kind: PagerDuty, MinSeverity: alert.Violation}
	assert.Equal(t, "ACK>acknowledge:warning", sent(as[1:], raised), "after the edit")
	assert.Empty(t, sent(as[1:], &Channel{Kind: Slack, MinSeverity: alert.Violation}))
}
