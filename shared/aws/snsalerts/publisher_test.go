package snsalerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// subscribe creates a queue subscribed to the topic with a filter policy and returns its URL.
func subscribe(t *testing.T, snsc *sns.Client, sqsc *sqs.Client, topic, name, policy string) string {
	t.Helper()
	ctx := context.Background()
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: &topic, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"]),
		Attributes: map[string]string{"FilterPolicy": policy},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *q.QueueUrl
}

// drain receives every message of a queue (awstest.Drain) and returns the alerts.
func drain(t *testing.T, sqsc *sqs.Client, url string) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, m := range awstest.Drain(t, sqsc, url) {
		var a alert.Alert
		if err := json.Unmarshal([]byte(m), &a); err != nil {
			t.Fatalf("default message is not an alert: %s", m)
		}
		out = append(out, a)
	}
	return out
}

func notice(i int, user string, sev alert.Severity) evaluator.Notice {
	a := alert.Alert{Kind: alert.Open, AlertTime: time.Date(2015, 2, 2, 14, i, 0, 0, time.UTC), UserID: user, DeviceID: "room-1",
		Rule: "temperature_high", Severity: sev, Metric: "temperature", ObservedValue: alert.Num(25), ThresholdValue: alert.Num(24)}
	a.WindowStartMs, a.WindowEndMs = a.AlertTime.UnixMilli(), a.AlertTime.UnixMilli()
	a.AlertID = alert.ID(&a)
	return evaluator.Notice{Alert: a, Device: device.Device{ID: "room-1", Name: "Meeting room"}}
}

func TestPublishFiltersPerUserAndBatchesByTen(t *testing.T) {
	ctx := context.Background()
	var calls awsclient.Counter
	snsc, sqsc := awstest.SNS(t, awstest.WithAPIOptions(calls.Add))
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts-filter")})
	if err != nil {
		t.Fatal(err)
	}
	alice := subscribe(t, snsc, sqsc, *topic.TopicArn, "alice-all", `{"user_id":["alice"]}`)
	bobViolations := subscribe(t, snsc, sqsc, *topic.TopicArn, "bob-violations", `{"user_id":["bob"],"severity":["VIOLATION"]}`)
	calls.Take()

	var notices []evaluator.Notice
	for i := 0; i < 23; i++ {
		user, sev := "alice", alert.Warning
		if i%3 == 0 {
			user = "bob"
		}
		if i%2 == 0 {
			sev = "VIOLATION"
		}
		notices = append(notices, notice(i, user, sev))
	}
	p := snsalerts.New(snsc, *topic.TopicArn)
	for i, err := range p.Publish(ctx, notices) {
		if err != nil {
			t.Errorf("notice %d: %v", i, err)
		}
	}
	if got := awsclient.Service(calls.Take(), "SNS"); got != 3 {
		t.Errorf("SNS calls = %d; want ceil(23/10) = 3", got)
	}
	ids := func(as []alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.AlertID)
		}
		sort.Strings(out)
		return out
	}
	var wantAlice, wantBob []alert.Alert
	for _, n := range notices {
		if n.Alert.UserID == "alice" {
			wantAlice = append(wantAlice, n.Alert)
		} else if n.Alert.Severity == "VIOLATION" {
			wantBob = append(wantBob, n.Alert)
		}
	}
	if got := drain(t, sqsc, alice); fmt.Sprint(ids(got)) != fmt.Sprint(ids(wantAlice)) {
		t.Errorf("alice received %d alerts; want her %d", len(got), len(wantAlice))
	}
	if got := drain(t, sqsc, bobViolations); fmt.Sprint(ids(got)) != fmt.Sprint(ids(wantBob)) {
		t.Errorf("bob received %d alerts; want his %d violations", len(got), len(wantBob))
	}
}

func TestMessageStructure(t *testing.T) {
	n := notice(5, "alice", "WARNING")
	msg, err := snsalerts.Message(&n)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		t.Fatal(err)
	}
	var a alert.Alert
	if err := json.Unmarshal([]byte(m["default"]), &a); err != nil || a.AlertID != n.Alert.AlertID {
		t.Errorf("default = %s; want the alert JSON", m["default"])
	}
	if m["email"] == "" || len([]rune(m["sms"])) > alert.MaxSMS || m["sms"] == "" {
		t.Errorf("email %q, sms %q", m["email"], m["sms"])
	}
}

// TestMessageInTheUsersUnits: the email and SMS are in the user's units and time zone; the
// message's default (the alert JSON) is the same, SI and UTC, whoever the user is.
func TestMessageInTheUsersUnits(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	plain := notice(5, "alice", "WARNING")
	prefs := plain
	prefs.User = &user.User{ID: "alice", Zone: chicago, ZoneName: "America/Chicago", Units: alert.ImperialUnits}
	parts := func(n evaluator.Notice) map[string]string {
		msg, err := snsalerts.Message(&n)
		require.NoError(t, err)
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(msg), &m))
		return m
	}
	metric, imperial := parts(plain), parts(prefs)
	assert.Equal(t, metric["default"], imperial["default"], "the alert JSON does not depend on the reader")
	assert.Contains(t, imperial["default"], `"alert_time":"2015-02-02T14:05:00Z"`)
	assert.Contains(t, imperial["default"], `"observed_value":25,"threshold_value":24`)
	assert.Contains(t, metric["sms"], "25°C > 24°C Feb 2 14:05 UTC")
	assert.Contains(t, imperial["sms"], "77°F > 75.2°F Feb 2 08:05 CST")
	assert.Contains(t, imperial["email"], "Reading:   temperature 77°F > 75.2°F\nTime:      2015-02-02 08:05:00 CST (America/Chicago)\n")
}

func TestPublishFailureIsReported(t *testing.T) {
	ctx := context.Background()
	faults := awstest.NewFaults(1, 1)
	snsc, _ := awstest.SNS(t, awstest.WithTransport(faults))
	p := snsalerts.New(snsc, "arn:aws:sns:us-east-1:000000000000:alerts-nowhere")
	errs := p.Publish(ctx, []evaluator.Notice{notice(1, "alice", "WARNING"), notice(2, "bob", "WARNING")})
	for i, err := range errs {
		if err == nil {
			t.Errorf("notice %d: published through a failing service", i)
		}
	}
	if injected, _ := faults.Counts(); injected != 3 {
		t.Errorf("attempts = %d; want 3 (the SDK's retries)", injected)
	}
}

func TestSubscribeFiltersByUserAndSeverity(t *testing.T) {
	ctx := context.Background()
	snsc, sqsc := awstest.SNS(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts-subscribe")})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bob-violation-only")})
	attrs, _ := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	arn, err := snsalerts.Subscribe(ctx, snsc, *topic.TopicArn, snsalerts.Subscription{UserID: "bob", Protocol: "sqs", Endpoint: attrs.Attributes["QueueArn"], Severities: []string{"VIOLATION"}})
	if err != nil || arn == "" {
		t.Fatalf("Subscribe = %q, %v", arn, err)
	}
	notices := []evaluator.Notice{notice(1, "bob", "VIOLATION"), notice(2, "bob", "WARNING"), notice(3, "alice", "VIOLATION"), notice(4, "bob", "VIOLATION")}
	for _, err := range snsalerts.New(snsc, *topic.TopicArn).Publish(ctx, notices) {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := drain(t, sqsc, *q.QueueUrl)
	if len(got) != 2 || got[0].UserID != "bob" || got[1].Severity != "VIOLATION" {
		t.Errorf("bob's VIOLATION subscription received %+v", got)
	}
	for _, tc := range []struct {
		s    snsalerts.Subscription
		want string
	}{
		{snsalerts.Subscription{UserID: "bob", Protocol: "email", Endpoint: "not-an-address"}, "is not an address"},
		{snsalerts.Subscription{UserID: "bob", Protocol: "sms", Endpoint: "0612345678"}, "E.164"},
		{snsalerts.Subscription{UserID: "", Protocol: "email", Endpoint: "a@b.co"}, "user: is empty"},
		{snsalerts.Subscription{UserID: "bob", Protocol: "email", Endpoint: "a@b.co", Severities: []string{"CRITICAL"}}, "want WARNING or VIOLATION"},
	} {
		if _, err := snsalerts.Subscribe(ctx, snsc, *topic.TopicArn, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Subscribe(%+v) = %v; want %q", tc.s, err, tc.want)
		}
	}
}

// answering is a fake SNS client that answers each PublishBatch as told: a fault injector, for
// answers the emulator never gives.
type answering func(in *sns.PublishBatchInput) *sns.PublishBatchOutput

func (f answering) PublishBatch(_ context.Context, in *sns.PublishBatchInput, _ ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	return f(in), nil
}

// TestEntryMissingFromTheAnswerIsNotPublished: SNS answers with an entry in neither Successful
// nor Failed; that entry must not count as published (its device is retried).
func TestEntryMissingFromTheAnswerIsNotPublished(t *testing.T) {
	pub := snsalerts.New(answering(func(in *sns.PublishBatchInput) *sns.PublishBatchOutput {
		out := &sns.PublishBatchOutput{}
		for _, e := range in.PublishBatchRequestEntries[1:] { // the first entry is left out
			out.Successful = append(out.Successful, snstypes.PublishBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + *e.Id)})
		}
		return out
	}), "arn:aws:sns:us-east-1:000000000000:alerts")
	errs := pub.Publish(context.Background(), []evaluator.Notice{notice(1, "alice", alert.Warning), notice(2, "alice", alert.Warning), notice(3, "bob", alert.Violation)})
	require.Len(t, errs, 3)
	assert.ErrorContains(t, errs[0], "without entry")
	assert.NoError(t, errs[1])
	assert.NoError(t, errs[2])
}

// TestOnlyWhatSNSFailedIsPublishedAgain: an entry SNS failed without blaming the sender is
// published again, up to Attempts, and then says so (*awsclient.RefusedError); one it blamed the
// sender for is not.
func TestOnlyWhatSNSFailedIsPublishedAgain(t *testing.T) {
	var calls [][]string
	pub := snsalerts.New(answering(func(in *sns.PublishBatchInput) *sns.PublishBatchOutput {
		out := &sns.PublishBatchOutput{}
		var ids []string
		for _, e := range in.PublishBatchRequestEntries {
			ids = append(ids, *e.Id)
			switch {
			case *e.Id == "0": // throttled every time
				out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("Throttling"), Message: aws.String("Rate exceeded")})
			case *e.Id == "1": // the sender's fault: never again
				out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameter"), SenderFault: true})
			case *e.Id == "2" && len(calls) == 0: // failed once
				out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
			default:
				out.Successful = append(out.Successful, snstypes.PublishBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + *e.Id)})
			}
		}
		calls = append(calls, ids)
		return out
	}), "arn:aws:sns:us-east-1:000000000000:alerts")
	pub.Backoff = time.Millisecond
	errs := pub.Publish(context.Background(), []evaluator.Notice{notice(1, "alice", alert.Warning), notice(2, "alice", alert.Warning),
		notice(3, "bob", alert.Violation), notice(4, "bob", alert.Violation)})
	assert.Equal(t, [][]string{{"0", "1", "2", "3"}, {"0", "2"}, {"0"}}, calls)
	require.Len(t, errs, 4)
	var refused *awsclient.RefusedError
	require.ErrorAs(t, errs[0], &refused)
	assert.Equal(t, awsclient.RefusedError{Service: "SNS", Target: "arn:aws:sns:us-east-1:000000000000:alerts", Count: 1, Attempts: 3,
		LastCode: "Throttling: Rate exceeded"}, *refused)
	assert.ErrorContains(t, errs[1], "sender fault true")
	assert.NoError(t, errs[2])
	assert.NoError(t, errs[3])
}

// TestSuppressedAlertsReachTheLakeOnly: a snoozed alert is published with suppressed=snoozed; the
// user's subscription (the filter `iotwatch subscribe` sets) does not take it, the lake's
// (no filter) does, with its reason.
func TestSuppressedAlertsReachTheLakeOnly(t *testing.T) {
	ctx := context.Background()
	snsc, sqsc := awstest.SNS(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts-suppressed")})
	require.NoError(t, err)
	policy, err := snsalerts.Subscription{UserID: "alice", Protocol: "email", Endpoint: "alice@example.com"}.FilterPolicy()
	require.NoError(t, err)
	alice := subscribe(t, snsc, sqsc, *topic.TopicArn, "suppressed-alice", policy)
	lakeQ := subscribe(t, snsc, sqsc, *topic.TopicArn, "suppressed-lake", `{}`)
	held, sent := notice(1, "alice", alert.Warning), notice(2, "alice", alert.Warning)
	held.Alert.Suppressed = alert.Snoozed
	for _, err := range snsalerts.New(snsc, *topic.TopicArn).Publish(ctx, []evaluator.Notice{held, sent}) {
		require.NoError(t, err)
	}
	got := drain(t, sqsc, alice)
	require.Len(t, got, 1)
	assert.Equal(t, sent.Alert.AlertID, got[0].AlertID, "alice gets the alert that was not snoozed")
	all := drain(t, sqsc, lakeQ)
	require.Len(t, all, 2)
	reasons := map[string]alert.Suppression{}
	for _, a := range all {
		reasons[a.AlertID] = a.Suppressed
	}
	assert.Equal(t, map[string]alert.Suppression{held.Alert.AlertID: alert.Snoozed, sent.Alert.AlertID: ""}, reasons)
}

// TestEpisodeStartIsAnAttribute: a notice whose episode start is known carries it as the Number
// attribute episode_start_ms (the notify function's PagerDuty dedup key of an ESCALATE needs it);
// one whose start is not known carries none (SNS refuses an empty value).
func TestEpisodeStartIsAnAttribute(t *testing.T) {
	ctx := context.Background()
	snsc, sqsc := awstest.SNS(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts-episode-start")})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("episode-start-raw")})
	require.NoError(t, err)
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true"}})
	require.NoError(t, err)
	escalate, open := notice(1, "alice", alert.Violation), notice(2, "alice", alert.Warning)
	escalate.Alert.Kind, escalate.EpisodeStartMs = alert.Escalate, 1422885600000
	for _, err := range snsalerts.New(snsc, *topic.TopicArn).Publish(ctx, []evaluator.Notice{escalate, open}) {
		require.NoError(t, err)
	}
	got := map[string]string{} // kind -> episode_start_ms ("-" when absent)
	for len(got) < 2 {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		require.NoError(t, err)
		require.NotEmpty(t, out.Messages, "both notices published")
		for _, m := range out.Messages {
			start := "-"
			if v, ok := m.MessageAttributes[snsalerts.EpisodeStartAttr]; ok {
				start = aws.ToString(v.DataType) + " " + aws.ToString(v.StringValue)
			}
			got[aws.ToString(m.MessageAttributes["kind"].StringValue)] = start
		}
	}
	assert.Equal(t, map[string]string{"ESCALATE": "Number 1422885600000", "OPEN": "-"}, got)
}

// TestTheLargestDigestFitsAMessage: a digest of evaluator.MaxDigestAlerts alerts whose names are
// as long as they may be (user and device ids of 128 characters, a declared metric's name of
// 32) fits SNS's message with every alert listed for the notify function; with values whose
// text is as long as a float's gets (found by review: 323 KB), the lambda entry lists as many as
// fit, the most telling first, and the message stays within MaxMessage.
func TestTheLargestDigestFitsAMessage(t *testing.T) {
	userID, deviceID, metric := strings.Repeat("u", threshold.MaxUserIDLen), strings.Repeat("d", 128), strings.Repeat("m", 32)
	for _, c := range []struct {
		value   float64
		listAll bool
	}{{25, true}, {1013.2500000000001, true}, {-1.2345678901234567e-300, false}} {
		var held []alert.Alert
		for i := range evaluator.MaxDigestAlerts {
			n := notice(i%60, userID, alert.Violation)
			n.Alert.DeviceID, n.Alert.Rule, n.Alert.Metric = deviceID, alert.Rule(metric+"_anomaly"), metric
			n.Alert.ObservedValue, n.Alert.ThresholdValue = alert.Num(c.value), alert.Num(c.value)
			n.Alert.AlertID = alert.ID(&n.Alert)
			held = append(held, n.Alert)
		}
		d := evaluator.Notice{Alert: alert.NewDigest(userID, held[len(held)-1].AlertTime, held), Held: held}
		msg, err := snsalerts.Message(&d)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(msg), snsalerts.MaxMessage, "SNS refuses a message over 256 KB")
		var parts map[string]string
		require.NoError(t, json.Unmarshal([]byte(msg), &parts))
		var l snsalerts.ForLambda
		require.NoError(t, json.Unmarshal([]byte(parts["lambda"]), &l))
		assert.Equal(t, d.Alert, l.Alert)
		if c.listAll {
			assert.Len(t, l.Held, len(held), "%g: every alert listed", c.value)
		} else {
			assert.Greater(t, len(l.Held), 0)
			assert.Less(t, len(l.Held), len(held), "%g: as many as fit", c.value)
			assert.Equal(t, alert.DigestOrder(held)[:len(l.Held)], l.Held, "the most telling first")
		}
		assert.Contains(t, parts["email"], "200 alerts were held", "the e-mail lists them all")
		t.Logf("%g: %d bytes, %d of %d alerts in the lambda entry", c.value, len(msg), len(l.Held), len(held))
	}
}
