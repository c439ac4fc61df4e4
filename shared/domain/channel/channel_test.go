package channel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
)

const (
	key    = "3fcc9112463424b599f996f9e780dfc6"
	secret = "0123456789abcdef0123"
	slack  = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
)

func TestParseCSV(t *testing.T) {
	in := "\ufeffuser_id,channel,target,min_severity,secret\n" +
		"alice,slack," + slack + ",,\n" +
		"alice,pagerduty," + key + ",violation,\n" +
		"alice,webhook,http://127.0.0.1:8080/hook,WARNING," + secret + "\n" +
		"bob,teams,https://prod-00.westeurope.logic.azure.com/workflows/abc?sig=s3cret,,\n" +
		"bob,email,bob@example.com,,\n" +
		"bob,sms,+14155550100,VIOLATION,\n" +
		"bob,webhook,http://[::1]:9/x,," + secret + "\n" +
		"bob,WEBHOOK,http://localhost/x,," + secret + "\n"
	chans, err := ParseCSV(strings.NewReader(in), "channels.csv")
	require.NoError(t, err)
	require.Len(t, chans, 8)
	assert.Equal(t, Channel{UserID: "alice", Kind: Slack, Target: slack, MinSeverity: alert.Warning}, chans[0], "empty min_severity is WARNING")
	assert.Equal(t, alert.Violation, chans[1].MinSeverity)
	assert.Equal(t, Webhook, chans[7].Kind, "the channel's case does not matter")
	assert.Len(t, Of(chans, "bob"), 5)
	found, ok := ByID(chans, chans[3].ID())
	assert.True(t, ok)
	assert.Equal(t, chans[3], found)
	_, ok = ByID(chans, "0000000000000000")
	assert.False(t, ok)

	var b strings.Builder
	require.NoError(t, WriteCSV(&b, chans))
	again, err := ParseCSV(strings.NewReader(b.String()), "again.csv")
	require.NoError(t, err)
	assert.Equal(t, chans, again, "WriteCSV writes what ParseCSV reads")

	only, err := ParseCSV(strings.NewReader("target,channel,user_id\nbob@example.com,email,bob\n"), "x.csv")
	require.NoError(t, err, "columns by name, in any order; min_severity and secret optional")
	assert.Equal(t, []Channel{{UserID: "bob", Kind: Email, Target: "bob@example.com", MinSeverity: alert.Warning}}, only)
}

func TestParseCSVRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, row, field, msg string
	}{
		{"unknown channel", "alice,discord,https://x.example/h,,", "channel", `"discord" is not a channel`},
		{"bad URL", "alice,slack,https://exa mple.com/x,,", "target", "is not a URL"},
		{"relative URL", "alice,slack,/services/x,,", "target", "not an absolute URL"},
		{"http off loopback", "alice,slack,http://hooks.slack.com/services/x,,", "target", "use https"},
		{"http on a private address", "alice,webhook,http://10.0.0.1/x,," + secret, "target", "use https"},
		{"other scheme", "alice,teams,ftp://example.com/x,,", "target", "want an https URL"},
		{"credentials in the URL", "alice,webhook,https://u:p@example.com/x,," + secret, "target", "user:password"},
		{"webhook without secret", "alice,webhook,https://example.com/x,,", "secret", "needs a secret"},
		{"short secret", "alice,webhook,https://example.com/x,,short", "secret", "shorter than 16"},
		{"secret on slack", "alice,slack," + slack + ",," + secret, "secret", "only a webhook takes a secret"},
		{"routing key too short", "alice,pagerduty,3fcc9112463424b599f996f9e780dfc,,", "target", "routing key"},
		{"routing key with a dash", "alice,pagerduty,3fcc9112-63424b599f996f9e780dfc6,,", "target", "routing key"},
		{"email", "alice,email,alice at example.com,,", "target", "not an email address"},
		{"email with a name", "alice,email,Alice <alice@example.com>,,", "target", "not an email address"},
		{"sms not E.164", "alice,sms,0612345678,,", "target", "E.164"},
		{"min_severity", "alice,slack," + slack + ",CRITICAL,", "min_severity", `"CRITICAL": want WARNING or VIOLATION`},
		{"user", "  ,slack," + slack + ",,", "user_id", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Join(Header, ",") + "\nbob,email,bob@example.com,,\n" + tc.row + "\n"
			chans, err := ParseCSV(strings.NewReader(in), "channels.csv")
			require.Error(t, err)
			assert.Nil(t, chans, "refused whole: nothing returned")
			var le *csvfile.LineError
			require.True(t, errors.As(err, &le), "%v", err)
			assert.Equal(t, 3, le.Line)
			assert.Equal(t, tc.field, le.Field)
			assert.Contains(t, le.Msg, tc.msg)
			assert.NotContains(t, err.Error(), "XXXXSECRETXXXX", "no secret in messages")
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestParseCSVRefusesRepeats(t *testing.T) {
	in := strings.Join(Header, ",") + "\nalice,slack," + slack + ",,\nbob,slack," + slack + ",,\nalice,slack," + slack + ",VIOLATION,\n"
	_, err := ParseCSV(strings.NewReader(in), "channels.csv")
	require.Error(t, err)
	assert.Equal(t, `channels.csv:4: target: user "alice"'s slack channel to https://hooks.slack.com/*** is already on line 2`, err.Error())

	_, err = ParseCSV(strings.NewReader("user_id,channel\nalice,slack\n"), "channels.csv")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "target: required column missing")
}

func TestRedaction(t *testing.T) {
	for _, tc := range []struct {
		c    Channel
		want string
	}{
		{Channel{UserID: "alice", Kind: Slack, Target: slack}, "alice slack https://hooks.slack.com/*** WARNING"},
		{Channel{UserID: "alice", Kind: Teams, Target: "https://x.logic.azure.com/workflows/a?sig=XXXXSECRETXXXX", MinSeverity: alert.Violation}, "alice teams https://x.logic.azure.com/*** VIOLATION"},
		{Channel{UserID: "alice", Kind: Webhook, Target: "https://example.com/XXXXSECRETXXXX", Secret: secret}, "alice webhook https://example.com/*** WARNING secret ***"},
		{Channel{UserID: "alice", Kind: PagerDuty, Target: key}, "alice pagerduty ***dfc6 WARNING"},
		{Channel{UserID: "alice", Kind: Email, Target: "alice@example.com"}, "alice email alice@example.com WARNING"},
	} {
		assert.Equal(t, tc.want, tc.c.String())
		for _, form := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(form, tc.c)
			assert.NotContains(t, out, "XXXXSECRETXXXX", form)
			assert.NotContains(t, out, secret, form)
			if tc.c.Kind == PagerDuty {
				assert.NotContains(t, out, key, form)
			}
		}
	}
	a, b := Channel{UserID: "alice", Kind: Slack, Target: slack}, Channel{UserID: "alice", Kind: Slack, Target: slack + "2"}
	assert.NotEqual(t, a.ID(), b.ID())
	assert.NotContains(t, a.ID(), "SECRET")
	assert.Len(t, a.ID(), 16)
}
