package silencelambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/silencelambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// env is the silence function wired to emulators as functions/silence/main.go wires it to AWS,
// beside the evaluation service that the evaluate function runs on the same table and topic.
type env struct {
	store    *dynamostore.Store
	svc      *evaluator.Service // the silence function's
	evaluate *evaluator.Service // the evaluate function's: another process on AWS
	calls    *awsclient.Counter
	ddbFault *awstest.Faults
	snsFault *awstest.Faults
	sqs      *sqs.Client
	queue    string
	clock    time.Time
	metrics  bytes.Buffer
	h        *silencelambda.Handler
}

var topicSeq int

func newEnv(t testing.TB) *env { return newEnvOn(t, awstest.DynamoDBServer(t)) }

// newEnvOn is newEnv on the DynamoDB emulator at ddbURL.
func newEnvOn(t testing.TB, ddbURL string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{calls: &awsclient.Counter{}, ddbFault: awstest.NewFaults(0, 2), snsFault: awstest.NewFaults(0, 1), clock: t0}
	awstest.CreateTable(t, awstest.DynamoDBClient(ddbURL), "iotwatch")
	e.store = dynamostore.New(awstest.DynamoDBClient(ddbURL, awstest.WithTransport(e.ddbFault), awstest.WithAPIOptions(e.calls.Add)), "iotwatch")
	e.store.Backoff = time.Millisecond

	snsc, sqsc := awstest.SNS(t, awstest.WithTransport(e.snsFault), awstest.WithAPIOptions(e.calls.Add))
	topicSeq++
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("silence-%d", topicSeq))})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("silence-%d", topicSeq))})
	require.NoError(t, err)
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])})
	require.NoError(t, err)
	e.sqs, e.queue = sqsc, *q.QueueUrl
	pub := snsalerts.New(snsc, *topic.TopicArn)
	pub.Backoff = time.Millisecond

	e.svc = evaluator.New(e.store, pub, nil, evaluator.Config{LoadConcurrency: 16, Users: e.store, Held: e.store}, nil, nil)
	e.evaluate = evaluator.New(e.store, pub, nil, evaluator.Config{LoadConcurrency: 16, Users: e.store, Held: e.store}, nil, nil)
	e.h = silencelambda.NewHandler(e.store, e.svc, func() time.Time { return e.clock }, &e.metrics, e.calls.Take)
	return e
}

// invoke runs the handler at the given clock through the Lambda runtime's JSON boundary, with
// the sample scheduled event.
func (e *env) invoke(t *testing.T, at time.Time) (silencelambda.Result, error) {
	t.Helper()
	payload, err := os.ReadFile("../../../events/scheduled-silence.json")
	require.NoError(t, err)
	e.clock = at
	e.metrics.Reset()
	_ = e.calls.Take()
	out, err := lambda.NewHandler(e.h.Handle).Invoke(context.Background(), payload)
	var res silencelambda.Result
	if err == nil {
		require.NoError(t, json.Unmarshal(out, &res))
	}
	return res, err
}

// reading applies one reading of dev at t through the evaluation service, as the evaluate
// function would.
func (e *env) reading(t *testing.T, dev string, at time.Time) {
	t.Helper()
	data := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":21.5}`, dev, at.Format(time.RFC3339))
	out, err := e.evaluate.Evaluate(context.Background(), []evaluator.Message{{ID: "1", Data: []byte(data), TopicDevice: dev, Arrival: at}})
	require.NoError(t, err)
	require.Empty(t, out.Retry)
}

// received lists the alerts delivered since the last call, as "15:04 device rule KIND id".
func (e *env) received(t *testing.T) []string {
	var out []string
	for _, m := range awstest.Drain(t, e.sqs, e.queue) {
		var a struct {
			AlertID   string    `json:"alert_id"`
			Kind      string    `json:"kind"`
			Rule      string    `json:"rule"`
			DeviceID  string    `json:"device_id"`
			AlertTime time.Time `json:"alert_time"`
		}
		require.NoError(t, json.Unmarshal([]byte(m), &a))
		out = append(out, fmt.Sprintf("%s %s %s %s %s", a.AlertTime.Format("15:04"), a.DeviceID, a.Rule, a.Kind, a.AlertID))
	}
	return out
}

func withoutIDs(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l[:strings.LastIndexByte(l, ' ')]
	}
	return out
}

// TestSilenceThroughLambda: the scheduled function opens a silence when it is due, reminds on
// the clock, raises nothing twice at the same clock, and leaves the resolution to the device's
// next reading (in the evaluate function); a device with no silence configured is never listed.
func TestSilenceThroughLambda(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.PutThresholds(ctx, []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600, RemindSeconds: 900},
		{UserID: "alice", DeviceID: "room-2", SilentSeconds: 300},
		{UserID: "alice", DeviceID: "room-3", TempWarning: threshold.Value{V: 30, Set: true}}, // no silence rule
	}))
	for _, d := range []string{"room-1", "room-2", "room-3"} {
		e.reading(t, d, t0)
	}

	res, err := e.invoke(t, t0.Add(4*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, silencelambda.Result{}, res, "nothing is due yet")
	assert.Empty(t, e.received(t))
	assertMetric(t, e.metrics.String(), "DynamoDBCalls", 16) // one Query a shard of the due index, nothing else

	res, err = e.invoke(t, t0.Add(10*time.Minute+30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Due)
	assert.Equal(t, 2, res.Alerts)
	assert.InDelta(t, 330, res.LagSeconds, 0.001, "room-2 fell due at 08:05, the clock is 08:10:30")
	opened := e.received(t)
	assert.ElementsMatch(t, []string{"08:05 room-2 device_silent OPEN", "08:10 room-1 device_silent OPEN"}, withoutIDs(opened))
	assertMetric(t, e.metrics.String(), "DueDevices", 2)
	assertMetric(t, e.metrics.String(), "Alerts", 2)
	// and per due device one Query and one PutItem, and one BatchGetItem of its alerts' users'
	// quiet hours (this service caches nothing: CacheTTL 0; deployed, users are cached 60 s)
	assertMetric(t, e.metrics.String(), "DynamoDBCalls", 16+2*3)
	assertMetric(t, e.metrics.String(), "SNSCalls", 2) // one publish a device

	res, err = e.invoke(t, t0.Add(11*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 0, res.Due, "the same silences are not due again: room-1's reminder is at 08:25, room-2 has none")
	assert.Empty(t, e.received(t))
	for id, want := range map[string]time.Time{"room-1": t0.Add(25 * time.Minute), "room-2": {}, "room-3": {}} {
		d, err := e.store.LoadDevice(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, d.State.Due, "%s: the next time it falls due (zero: nothing to come)", id)
	}

	res, err = e.invoke(t, t0.Add(26*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, silencelambda.Result{Due: 1, LagSeconds: 60, Alerts: 1}, res)
	assert.Equal(t, []string{"08:25 room-1 device_silent REMIND"}, withoutIDs(e.received(t)))

	// The device reports again: the evaluate function resolves its silence, nothing is due.
	e.reading(t, "room-1", t0.Add(30*time.Minute))
	e.reading(t, "room-2", t0.Add(30*time.Minute))
	assert.ElementsMatch(t, []string{"08:30 room-1 device_silent RESOLVE", "08:30 room-2 device_silent RESOLVE"}, withoutIDs(e.received(t)))
	res, err = e.invoke(t, t0.Add(31*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 0, res.Due)
}

// TestFailedPublishFailsTheRunAndIsSentOnce: when SNS refuses, the run fails (so Lambda retries it
// and the errors alarm sees it) and records nothing; the next run sends the alert with the same id,
// once.
func TestFailedPublishFailsTheRunAndIsSentOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.PutThresholds(ctx, []threshold.Config{{UserID: "bob", DeviceID: "room-9", SilentSeconds: 300}}))
	e.reading(t, "room-9", t0)

	e.snsFault.SetRate(1)
	_, err := e.invoke(t, t0.Add(6*time.Minute))
	require.Error(t, err, "a publish that failed fails the run")
	e.snsFault.SetRate(0)
	assert.Empty(t, e.received(t))

	res, err := e.invoke(t, t0.Add(7*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Alerts)
	got := e.received(t)
	require.Len(t, got, 1)
	assert.Equal(t, "08:05 room-9 device_silent OPEN", withoutIDs(got)[0])
	res, err = e.invoke(t, t0.Add(8*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 0, res.Due)
	assert.Empty(t, e.received(t))
}

// TestCheckAndReadingRace: the check and the evaluate function change one device's state at the
// same moment; the conditional write decides. Whichever wins, the contract's alerts (the
// silence's OPEN at last + silent_seconds, then the reading's RESOLVE) go out with the contract's
// ids, none is lost, and no other alert is made; an alert goes out twice only as the evaluator's
// first duplicate case says (published by the side whose state write lost, counted as
// published-uncommitted), with the same alert_id.
func TestCheckAndReadingRace(t *testing.T) {
	const rounds = 20
	raced := 0
	for round := range rounds {
		e := newEnv(t)
		ctx := context.Background()
		dev := fmt.Sprintf("race-%d", round)
		require.NoError(t, e.store.PutThresholds(ctx, []threshold.Config{{UserID: "carol", DeviceID: dev, SilentSeconds: 300}}))
		e.reading(t, dev, t0)

		var wg sync.WaitGroup
		var (
			res          silencelambda.Result
			runErr       error
			uncommitted  int
			readingTries int
		)
		wg.Add(2)
		go func() { // the check
			defer wg.Done()
			res, runErr = e.invoke(t, t0.Add(6*time.Minute))
		}()
		go func() { // a reading, retried as the stream would until its state write wins
			defer wg.Done()
			data := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":21.5}`, dev, t0.Add(6*time.Minute).Format(time.RFC3339))
			for readingTries < 10 {
				readingTries++
				out, err := e.evaluate.Evaluate(ctx, []evaluator.Message{{ID: "1", Data: []byte(data), TopicDevice: dev}})
				uncommitted += out.Stats.PublishedUncommitted
				if err == nil && len(out.Retry) == 0 {
					return
				}
			}
			t.Error("the reading never committed")
		}()
		wg.Wait()
		require.NoError(t, runErr, "a conflict is not a failure of the run")
		uncommitted += res.Uncommitted
		if res.Conflicts > 0 || readingTries > 1 {
			raced++
		}
		_, err := e.invoke(t, t0.Add(7*time.Minute)) // a later round finds nothing left
		require.NoError(t, err)

		got := e.received(t)
		ids := map[string]string{}
		for _, l := range got {
			i := strings.LastIndexByte(l, ' ')
			if prev, seen := ids[l[i+1:]]; seen {
				assert.Equal(t, prev, l[:i], "one id, one alert")
			}
			ids[l[i+1:]] = l[:i]
		}
		var distinct []string
		for _, a := range ids {
			distinct = append(distinct, a)
		}
		assert.ElementsMatch(t, []string{"08:05 " + dev + " device_silent OPEN", "08:06 " + dev + " device_silent RESOLVE"}, distinct, "round %d", round)
		assert.Equal(t, len(ids)+uncommitted, len(got), "round %d: every repeat is a published-uncommitted alert: %v", round, got)
	}
	t.Logf("%d of %d rounds raced (a state write lost)", raced, rounds)
	assert.Positive(t, raced, "no round raced: the test showed nothing (a third of the rounds race, as measured)")
}

// TestSilenceUnderFaults: 40 devices fall silent and stay silent for half an hour while DynamoDB
// and SNS fail requests and lose answers (10% each); the check runs every minute, then each device
// reports again through the evaluate function's service. Every OPEN, REMIND and RESOLVE the
// contract makes is delivered (the same ids as a run without faults), and repeats stay
// within the evaluator's two duplicate cases: published-uncommitted alerts, and the entries of
// PublishBatch requests whose answer was lost.
func TestSilenceUnderFaults(t *testing.T) {
	const devices = 40
	scenario := func(e *env, faults float64) (ids map[string]int, uncommitted, failedRuns int) {
		ctx := context.Background()
		var cfgs []threshold.Config
		for i := range devices {
			cfgs = append(cfgs, threshold.Config{UserID: "ops", DeviceID: fmt.Sprintf("dev-%02d", i), SilentSeconds: 300, RemindSeconds: 300})
		}
		require.NoError(t, e.store.PutThresholds(ctx, cfgs))
		for _, c := range cfgs {
			e.reading(t, c.DeviceID, t0)
		}
		for _, f := range []*awstest.Faults{e.ddbFault, e.snsFault} {
			f.SetRate(faults)
			f.SetDropRate(faults)
		}
		heal := func() {
			for _, f := range []*awstest.Faults{e.ddbFault, e.snsFault} {
				f.SetRate(0)
				f.SetDropRate(0)
			}
		}
		for m := 1; m <= 30; m++ {
			e.clock = t0.Add(time.Duration(m) * time.Minute)
			res, err := e.h.Handle(ctx, events.EventBridgeEvent{})
			uncommitted += res.Uncommitted
			if err != nil {
				failedRuns++
			}
		}
		// Every device reports again at 08:31, through the evaluate function's service, retried as
		// the stream retries until it commits: it resolves the silence.
		for i := range devices {
			dev := fmt.Sprintf("dev-%02d", i)
			data := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":21.5}`, dev, t0.Add(31*time.Minute).Format(time.RFC3339))
			for try := 0; ; try++ {
				require.Less(t, try, 50, "the reading of %s never committed", dev)
				out, err := e.evaluate.Evaluate(ctx, []evaluator.Message{{ID: "1", Data: []byte(data), TopicDevice: dev}})
				uncommitted += out.Stats.PublishedUncommitted
				if err == nil && len(out.Retry) == 0 {
					break
				}
			}
		}
		heal()
		e.clock = t0.Add(32 * time.Minute)
		res, err := e.h.Handle(ctx, events.EventBridgeEvent{})
		require.NoError(t, err)
		require.Zero(t, res.Due, "nothing is due once every device reported")
		ids = map[string]int{}
		for _, l := range e.received(t) {
			ids[l[strings.LastIndexByte(l, ' ')+1:]]++
		}
		return ids, uncommitted, failedRuns
	}
	want, _, failed := scenario(newEnv(t), 0)
	require.Zero(t, failed)
	require.Len(t, want, devices*7, "an OPEN at 08:05, REMINDs at 08:10 … 08:30 and a RESOLVE at 08:31 for each device")

	e := newEnv(t)
	got, uncommitted, failedRuns := scenario(e, 0.1)
	dups := 0
	for id, n := range got {
		assert.Contains(t, want, id, "an alert the contract does not make")
		dups += n - 1
	}
	for id := range want {
		assert.Contains(t, got, id, "lost alert")
	}
	_, lostEntries := e.snsFault.Dropped()
	di, _ := e.ddbFault.Counts()
	si, _ := e.snsFault.Counts()
	dd, _ := e.ddbFault.Dropped()
	t.Logf("%d alerts, %d duplicates; %d of 30 runs failed; failed requests DynamoDB %d, SNS %d; lost answers DynamoDB %d, SNS entries %d; published-uncommitted %d",
		len(want), dups, failedRuns, di, si, dd, lostEntries, uncommitted)
	assert.True(t, di > 0 && si > 0 && dd > 0, "the faults were exercised")
	assert.LessOrEqual(t, dups, uncommitted+lostEntries, "duplicates beyond the two documented cases")
}

// TestDigestThroughLambda: alice's WARNING at 23:00 falls in her quiet hours (22:00-07:00): it is
// published marked quiet_hours (the lake keeps it) and kept; at 07:00 the scheduled function finds
// her digest due in the due index and sends one DIGEST listing it, then forgets it.
func TestDigestThroughLambda(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users, err := user.ParseCSV(strings.NewReader("user_id,timezone,quiet_hours\nalice,UTC,22:00-07:00\n"), "users.csv")
	require.NoError(t, err)
	require.NoError(t, e.store.PutUsers(ctx, users))
	require.NoError(t, e.store.PutThresholds(ctx, []threshold.Config{{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24)}}))
	night := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	for i, temp := range []float64{25, 23} { // OPEN, RESOLVE: both held
		data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g}`, night.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), temp)
		out, err := e.evaluate.Evaluate(ctx, []evaluator.Message{{ID: fmt.Sprint(i), Data: []byte(data), TopicDevice: "room-1"}})
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	var lake []alert.Alert
	for _, m := range awstest.Drain(t, e.sqs, e.queue) {
		var a alert.Alert
		require.NoError(t, json.Unmarshal([]byte(m), &a))
		lake = append(lake, a)
	}
	require.Len(t, lake, 2)
	for _, a := range lake {
		assert.Equal(t, alert.QuietHours, a.Suppressed)
	}

	res, err := e.invoke(t, time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 0, res.Due, "not before 07:00")
	res, err = e.invoke(t, time.Date(2026, 3, 2, 7, 0, 30, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Due)
	msgs := awstest.Drain(t, e.sqs, e.queue)
	require.Len(t, msgs, 1)
	var d alert.Alert
	require.NoError(t, json.Unmarshal([]byte(msgs[0]), &d))
	assert.Equal(t, alert.Digest, d.Kind)
	assert.Equal(t, "alice", d.UserID)
	assert.Equal(t, time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), d.AlertTime)
	assert.Equal(t, alert.Num(2), d.ObservedValue)
	left, err := e.store.Held(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, left)
	res, err = e.invoke(t, time.Date(2026, 3, 2, 7, 1, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 0, res.Due, "the digest left the due index")
	assert.Empty(t, e.received(t))
}

func assertMetric(t *testing.T, emfLines, name string, want float64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(emfLines), "\n") {
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &doc))
		if doc["Function"] != "silence" {
			t.Fatalf("an EMF line without Function=silence: %s", line)
		}
		if _, dims := doc["Kind"]; dims {
			continue
		}
		if v, ok := doc[name]; ok {
			assert.Equal(t, want, v, "metric %s", name)
			return
		}
	}
	t.Errorf("no metric %s in %s", name, emfLines)
}
