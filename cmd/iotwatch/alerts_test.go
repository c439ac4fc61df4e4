package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

type published struct {
	kinds []string
	ids   []string
}

func (p *published) Publish(_ context.Context, ns []evaluator.Notice) []error {
	for _, n := range ns {
		if n.Alert.UserID == "ops" { // the bundled ops row's stuck and anomaly rules, not under test here
			continue
		}
		p.ids = append(p.ids, n.Alert.AlertID)
		p.kinds = append(p.kinds, fmt.Sprintf("%s %s %s%s", n.Alert.UserID, n.Alert.Rule, n.Alert.Kind, map[bool]string{true: " " + string(n.Alert.Suppressed)}[n.Alert.Suppressed != ""]))
	}
	return make([]error, len(ns))
}

// TestAlertsOnEmulator: an acknowledgement and a snooze written by the CLI into the table are
// honoured by the next batch of the evaluation service, which makes no more requests than without
// them (one Query, one conditional PutItem); open episodes are listed with their state.
func TestAlertsOnEmulator(t *testing.T) {
	ctx := context.Background()
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	at := []string{"--table", "iotwatch", "--endpoint", url}
	code, _, errOut := runCLI(t, "", append([]string{"thresholds", "put", "../../events/thresholds.csv"}, at...)...)
	require.Zero(t, code, errOut)

	var calls awsclient.Counter
	store := dynamostore.New(awstest.DynamoDBClient(url, awstest.WithAPIOptions(calls.Add)), "iotwatch")
	pub := &published{}
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-90 * time.Minute)
	batch := func(from, to int, temp float64) {
		var msgs []evaluator.Message
		for m := from; m < to; m++ {
			data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g,"light":0,"occupancy":0}`, t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), temp)
			msgs = append(msgs, evaluator.Message{ID: fmt.Sprint(m), Data: []byte(data), TopicDevice: "room-1", Arrival: time.Now()})
		}
		svc := evaluator.New(store, pub, nil, evaluator.Config{}, nil, nil) // a cold cache, as a new function instance
		out, err := svc.Evaluate(ctx, msgs)
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	batch(0, 6, 23.5) // alice's temperature_high opens at minute 5 (sustain 300 s)
	require.Equal(t, []string{"alice temperature_high OPEN"}, pub.kinds)

	_, out, _ := runCLI(t, "", append([]string{"alerts", "open", "--device", "room-1"}, at...)...)
	assert.Regexp(t, `room-1\s+alice\s+temperature_high\s+WARNING\s+\S+\s+\S+\s+no\s+-`, out)

	code, _, errOut = runCLI(t, "", append([]string{"alerts", "ack", "--user", "alice", "--device", "room-1", "--rule", "temperature_high"}, at...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--topic is required", "an action on the table is recorded, or not done")
	snsc, sqsc := awstest.SNS(t)
	// Names of this run only: the emulator is shared by the process (go test -count 3).
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("cli-actions-" + suffix)})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cli-actions-lake-" + suffix)})
	require.NoError(t, err)
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])})
	require.NoError(t, err)
	rec := []string{"--topic", *topic.TopicArn, "--sns-endpoint", *snsc.Options().BaseEndpoint}
	code, _, errOut = runCLI(t, "", append(append([]string{"alerts", "ack", "--alert", "00000000000000000000000000000000"}, at...), rec...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no open episode has an alert")
	code, out, errOut = runCLI(t, "", append(append([]string{"alerts", "ack", "--alert", pub.ids[0]}, at...), rec...)...) // the OPEN alice received
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "acknowledged alice's temperature_high episode on room-1")
	code, _, errOut = runCLI(t, "", append(append([]string{"alerts", "snooze", "--user", "bob", "--device", "room-1", "--for", "3h"}, at...), rec...)...)
	require.Zero(t, code, errOut)
	var rows []string
	for _, m := range awstest.Drain(t, sqsc, *q.QueueUrl) {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(m), &a))
		rows = append(rows, fmt.Sprintf("%s %s %s %s", a.Kind, a.UserID, a.Rule, a.Via))
	}
	assert.ElementsMatch(t, []string{"ACK alice temperature_high cli", "SNOOZE bob  cli"}, rows, "each action recorded for the lake")

	_, out, _ = runCLI(t, "", append([]string{"alerts", "open"}, at...)...) // every device: a Scan
	assert.Regexp(t, `room-1\s+alice\s+temperature_high\s+WARNING\s+\S+\s+\S+\s+yes\s+-`, out)

	pub.kinds = nil
	_ = calls.Take()
	batch(6, 70, 23.5) // past 65 minutes: a REMIND, had alice not acknowledged
	batch(70, 80, 19)  // bob's temperature_low, snoozed; alice's RESOLVE
	assert.Equal(t, []string{"alice temperature_high RESOLVE", "bob temperature_low OPEN snoozed"}, pub.kinds, "no REMIND for alice; bob's alert made, and held")
	c := calls.Take()
	assert.Equal(t, 2, c["DynamoDB.Query"], "one Query a batch: %v", c)
	assert.Equal(t, 2, c["DynamoDB.PutItem"], "one state write a batch: %v", c)
	assert.Equal(t, 4, awsclient.Service(c, "DynamoDB"), "no other request: %v", c)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"alerts", "ack", "--user", "alice", "--device", "room-1", "--rule", "temperature_high"}, "no open, unacknowledged temperature_high episode"},
		{[]string{"alerts", "ack", "--user", "alice", "--device", "room-1", "--rule", "hot"}, `unknown rule "hot"`},
		{[]string{"alerts", "snooze", "--user", "bob", "--device", "room-1"}, "give one of --for"},
		{[]string{"alerts", "snooze", "--user", "bob", "--device", "room-9", "--for", "1h"}, "room-9 has no thresholds"},
		{[]string{"alerts", "snooze", "--user", "bob", "--device", "room-1", "--until", "2020-01-01T00:00:00Z"}, "has passed"},
		{[]string{"alerts", "unsnooze", "--user", "bob", "--device", "room-1", "--rule", "temperature_low"}, "bob has no snooze of temperature_low"},
	} {
		code, _, errOut := runCLI(t, "", append(append(tc.args, at...), rec...)...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}
	code, out, errOut = runCLI(t, "", append(append([]string{"alerts", "unsnooze", "--user", "bob", "--device", "room-1"}, at...), rec...)...)
	require.Zero(t, code, errOut)
	assert.True(t, strings.HasPrefix(out, "unsnoozed bob's every rule on room-1"), out)
}

func TestUsersOnEmulator(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	at := []string{"--table", "iotwatch", "--endpoint", url}
	bad := writeFile(t, "users.csv", "user_id,timezone,quiet_hours\nalice,Europe/Paris,22:00-07:00\nbob,Mars/Base,\n")
	code, _, errOut := runCLI(t, "", append([]string{"users", "put", bad}, at...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "users.csv:3: timezone")
	_, out, _ := runCLI(t, "", append([]string{"users", "list"}, at...)...)
	assert.Equal(t, "user_id,timezone,quiet_hours,quiet_min_severity,units\n", out, "a bad file writes nothing")
	badUnits := writeFile(t, "units.csv", "user_id,timezone,units\nalice,America/Chicago,imperial\nbob,UTC,kelvin\n")
	code, _, errOut = runCLI(t, "", append([]string{"users", "put", badUnits}, at...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `units.csv:3: units: "kelvin": want metric or imperial`)
	_, out, _ = runCLI(t, "", append([]string{"users", "list"}, at...)...)
	assert.Equal(t, "user_id,timezone,quiet_hours,quiet_min_severity,units\n", out, "an unknown units value writes nothing")

	code, out, errOut = runCLI(t, "", append([]string{"users", "put", "../../events/users.csv"}, at...)...)
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "wrote 4 users")
	_, out, _ = runCLI(t, "", append([]string{"users", "list"}, at...)...)
	want, err := os.ReadFile("../../events/users.csv")
	require.NoError(t, err)
	assert.Equal(t, string(want), out, "listed as the file says")
	code, _, errOut = runCLI(t, "", append([]string{"users", "delete", "--user", "bob"}, at...)...)
	require.Zero(t, code, errOut)
	code, _, errOut = runCLI(t, "", append([]string{"users", "delete", "--user", "bob"}, at...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "bob has no preferences")
}

// TestAlertsAgainstARunningRun: `iotwatch alerts … --server` acts on a running `iotwatch run`
// (its control API, on loopback): open lists the episode, ack acknowledges it, snooze and
// unsnooze work; the actions are rows of the lake's alerts (via "cli").
func TestAlertsAgainstARunningRun(t *testing.T) {
	th := writeFile(t, "thresholds.csv", "user_id,device_id,temp_warning,remind_seconds\nalice,room-1,24,300\n")
	lakeDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready, linksAddr := make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := runner.Run(ctx, runner.Config{Lake: lakeDir, Thresholds: th, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", Clock: runner.ClockWatermark,
			Ready: func(a string) { ready <- a }, LinksReady: func(a string) { linksAddr <- a }})
		done <- err
	}()
	broker, server := <-ready, "http://"+<-linksAddr
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-20 * time.Minute)
	var lines strings.Builder
	for m := 0; m < 3; m++ {
		fmt.Fprintf(&lines, `{"device_id":"room-1","event_time":%q,"temperature":25}`+"\n", t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
	}
	_, err := simulate.Publish(ctx, simulate.NewLines(strings.NewReader(lines.String())), simulate.Options{Broker: broker})
	require.NoError(t, err)
	var out string
	require.Eventually(t, func() bool {
		_, out, _ = runCLI(t, "", "alerts", "open", "--server", server)
		return strings.Contains(out, "temperature_high")
	}, 10*time.Second, 50*time.Millisecond, "the episode never showed: %s", out)
	assert.Regexp(t, `room-1\s+alice\s+temperature_high\s+WARNING\s+\S+\s+\S+\s+no\s+-`, out)

	code, _, errOut := runCLI(t, "", "alerts", "ack", "--alert", "00000000000000000000000000000000", "--server", server)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no open episode has an alert")
	code, out, errOut = runCLI(t, "", "alerts", "ack", "--user", "alice", "--device", "room-1", "--rule", "temperature_high", "--server", server)
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "acknowledged alice's temperature_high episode on room-1")
	code, _, errOut = runCLI(t, "", "alerts", "ack", "--user", "alice", "--device", "room-1", "--rule", "temperature_high", "--server", server)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no open, unacknowledged")
	code, _, errOut = runCLI(t, "", "alerts", "snooze", "--user", "alice", "--device", "room-1", "--for", "1h", "--server", server)
	require.Zero(t, code, errOut)
	_, out, _ = runCLI(t, "", "alerts", "open", "--user", "alice", "--server", server)
	assert.Regexp(t, `room-1\s+alice\s+temperature_high\s+WARNING\s+\S+\s+\S+\s+yes\s+\d{4}-`, out, "acknowledged, and snoozed until a time")
	code, _, errOut = runCLI(t, "", "alerts", "snooze", "--user", "alice", "--device", "room-9", "--for", "1h", "--server", server)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "room-9 has no thresholds")
	code, _, errOut = runCLI(t, "", "alerts", "unsnooze", "--user", "alice", "--device", "room-1", "--server", server)
	require.Zero(t, code, errOut)

	cancel()
	require.NoError(t, <-done)
	var rows []string
	root := filepath.Join(lakeDir, "alerts")
	require.NoError(t, filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var a alert.Alert
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				return err
			}
			rows = append(rows, string(a.Kind)+" "+a.Via)
		}
		return nil
	}))
	assert.ElementsMatch(t, []string{"OPEN ", "ACK cli", "SNOOZE cli", "UNSNOOZE cli"}, rows)
}
