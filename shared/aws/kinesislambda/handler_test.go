package kinesislambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/kinesislambda"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/evaltest"
)

// env is the evaluate function wired to emulators, as functions/evaluate/main.go wires it to AWS.
type env struct {
	h          *kinesislambda.Handler
	store      *dynamostore.Store
	ddbFaults  *awstest.Faults
	snsFaults  *awstest.Faults
	calls      *awsclient.Counter
	sqs        *sqs.Client
	queues     map[string]string // name -> URL; "all" has no filter
	s3         *s3.Client
	pub        *snsalerts.Publisher
	quarantine *s3quarantine.Quarantine
	mu         sync.Mutex
	stats      []evaluator.Stats
	callCounts []map[string]int
}

var topicSeq int

func newEnv(t testing.TB, faultRate float64, seed uint64, cfg evaluator.Config) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{calls: &awsclient.Counter{}, queues: map[string]string{}}
	e.ddbFaults = awstest.NewFaults(faultRate, seed)
	e.snsFaults = awstest.NewFaults(faultRate, seed+1)

	ddbURL := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(ddbURL), "iotwatch")
	ddb := awstest.DynamoDBClient(ddbURL, awstest.WithTransport(e.ddbFaults), awstest.WithAPIOptions(e.calls.Add))
	e.store = dynamostore.New(ddb, "iotwatch")
	e.store.Backoff = time.Millisecond

	snsc, sqsc := awstest.SNS(t, awstest.WithTransport(e.snsFaults), awstest.WithAPIOptions(e.calls.Add))
	e.sqs = sqsc
	topicSeq++
	e.snsFaults.SetRate(0)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("alerts-%d", topicSeq))})
	if err != nil {
		t.Fatal(err)
	}
	for name, policy := range map[string]string{"all": "", "alice": `{"user_id":["alice"]}`, "bob": `{"user_id":["bob"]}`, "carol": `{"user_id":["carol"]}`} {
		qname := fmt.Sprintf("q%d-%s", topicSeq, name)
		q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &qname})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		in := &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}
		if policy != "" {
			in.Attributes = map[string]string{"FilterPolicy": policy}
		}
		if _, err := snsc.Subscribe(ctx, in); err != nil {
			t.Fatal(err)
		}
		e.queues[name] = *q.QueueUrl
	}
	e.snsFaults.SetRate(faultRate)
	pub := snsalerts.New(snsc, *topic.TopicArn)
	pub.Backoff = time.Millisecond

	_, s3c := awstest.S3(t, "lake", awstest.WithAPIOptions(e.calls.Add))
	e.s3 = s3c
	e.pub, e.quarantine = pub, s3quarantine.NewQuarantine(s3c, "lake")
	e.h = e.handler(cfg)
	return e
}

// handler returns a new handler (with a cold cache) over the env's adapters, wired as
// functions/evaluate/main.go wires it.
func (e *env) handler(cfg evaluator.Config) *kinesislambda.Handler {
	return kinesislambda.NewHandler(evaluator.New(e.store, e.pub, e.quarantine, cfg, testLogger(), e.observe), true)
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func (e *env) observe(s evaluator.Stats) {
	e.mu.Lock()
	e.stats = append(e.stats, s)
	e.callCounts = append(e.callCounts, e.calls.Take())
	e.mu.Unlock()
}

func (e *env) seed(t testing.TB, thresholdsCSV, devicesCSV string) {
	t.Helper()
	ctx := context.Background()
	rate := e.ddbFaults.Rate
	e.ddbFaults.SetRate(0)
	defer e.ddbFaults.SetRate(rate)
	f, err := os.Open(thresholdsCSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfgs, err := threshold.ParseCSV(f, thresholdsCSV)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutThresholds(ctx, cfgs); err != nil {
		t.Fatal(err)
	}
	if devicesCSV != "" {
		g, err := os.Open(devicesCSV)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		devs, err := device.ParseCSV(g, devicesCSV)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutDevices(ctx, devs); err != nil {
			t.Fatal(err)
		}
	}
	e.calls.Take()
}

// invoke crosses the same JSON boundary Lambda does.
func (e *env) invoke(t testing.TB, payload []byte) events.KinesisEventResponse {
	t.Helper()
	out, err := lambda.NewHandler(e.h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

// deliver hands a batch to the handler the way the Kinesis event source mapping does with
// ReportBatchItemFailures: after a partial failure it retries from the lowest failed sequence number.
func (e *env) deliver(t testing.TB, ev events.KinesisEvent) int {
	t.Helper()
	recs := ev.Records
	for attempt := 1; ; attempt++ {
		if attempt > 100 {
			t.Fatalf("batch still failing after 100 attempts")
		}
		payload, err := json.Marshal(events.KinesisEvent{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		resp := e.invoke(t, payload)
		if len(resp.BatchItemFailures) == 0 {
			return attempt
		}
		var lowest *big.Int
		for _, f := range resp.BatchItemFailures {
			n, ok := new(big.Int).SetString(f.ItemIdentifier, 10)
			if !ok {
				t.Fatalf("item identifier %q is not a sequence number", f.ItemIdentifier)
			}
			if lowest == nil || n.Cmp(lowest) < 0 {
				lowest = n
			}
		}
		i := sort.Search(len(recs), func(i int) bool {
			n, _ := new(big.Int).SetString(recs[i].Kinesis.SequenceNumber, 10)
			return n.Cmp(lowest) >= 0
		})
		recs = recs[i:]
	}
}

// received drains a queue (awstest.Drain) and returns the alerts delivered to it, in order.
func (e *env) received(t testing.TB, queue string) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, m := range awstest.Drain(t, e.sqs, e.queues[queue]) {
		var a alert.Alert
		if err := json.Unmarshal([]byte(m), &a); err != nil {
			t.Fatalf("not an alert: %s", m)
		}
		out = append(out, a)
	}
	return out
}

func short(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s %s %s %s %s", a.AlertTime.Format("15:04"), a.UserID, a.DeviceID, a.Rule, a.Kind, a.Severity))
	}
	sort.Strings(out)
	return out
}

func TestSampleEventThroughLambda(t *testing.T) {
	e := newEnv(t, 0, 1, evaluator.DefaultConfig)
	e.seed(t, "../../../events/thresholds.csv", "../../../events/devices.csv")
	payload, err := os.ReadFile("../../../events/kinesis-readings.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := e.invoke(t, payload)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("BatchItemFailures = %v; want none", resp.BatchItemFailures)
	}
	want := []string{
		"14:21 carol room-2 light_no_occupancy OPEN WARNING",
		"14:22 carol room-2 light_no_occupancy RESOLVE WARNING",
		"14:24 alice room-1 temperature_high OPEN WARNING",
		"14:26 alice room-1 temperature_high RESOLVE WARNING",
	}
	if got := short(e.received(t, "all")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := short(e.received(t, "alice")); len(got) != 2 || !strings.Contains(got[0], "alice") || !strings.Contains(got[1], "alice") {
		t.Errorf("alice's subscription got %v; want her 2 alerts only", got)
	}
	if got := short(e.received(t, "carol")); len(got) != 2 || !strings.Contains(got[0], "carol") {
		t.Errorf("carol's subscription got %v; want her 2 alerts only", got)
	}

	st := e.stats[0]
	if st.Readings != 12 || st.Rejected[reading.MalformedJSON] != 1 || st.Rejected[reading.OutOfRange] != 1 || st.Rejected[reading.DeviceMismatch] != 1 {
		t.Errorf("stats = %+v", st)
	}
	calls := e.callCounts[0]
	if calls["DynamoDB.Query"] != 2+1+2 || awsclient.Service(calls, "DynamoDB") != 7 || calls["SNS.PublishBatch"] != 1 || calls["S3.PutObject"] != 2 {
		t.Errorf("calls = %v; want 5 Query (one per device, the fleet's rules, the rules of each device's location), 2 PutItem, 1 PublishBatch, 2 PutObject (quarantine, rejections index)", calls)
	}

	// The rejections index of bronze's hour names the two rejected lines that have one (the
	// malformed one lands in bronze's errors/, not in an hour).
	idx, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("rejections/")})
	require.NoError(t, err)
	require.Len(t, idx.Contents, 1)
	assert.True(t, strings.HasPrefix(*idx.Contents[0].Key, "rejections/dt=2015-02-02/hour=14/"), *idx.Contents[0].Key)

	// Quarantine holds the three rejected records with their reasons and bytes.
	list, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("quarantine/")})
	if err != nil || len(list.Contents) != 1 || !strings.HasPrefix(*list.Contents[0].Key, "quarantine/dt=2015-02-02/hour=14/shardId-000000000000-") {
		t.Fatalf("quarantine objects = %v, %v", list.Contents, err)
	}

	// Replays: the same batch twice more raises nothing and writes no state.
	for i := 0; i < 2; i++ {
		if resp := e.invoke(t, payload); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("replay %d: failures %v", i, resp.BatchItemFailures)
		}
	}
	if got := e.received(t, "all"); len(got) != 0 {
		t.Errorf("replays published %v", short(got))
	}
	for i, st := range e.stats[1:] {
		if st.StateWrites != 0 || st.Late+st.Duplicates != 12 {
			t.Errorf("replay %d stats = %+v; want 12 late or duplicate readings and no write", i, st)
		}
		if c := e.callCounts[i+1]; c["DynamoDB.Query"] != 0 || c["DynamoDB.BatchGetItem"] != 1 {
			t.Errorf("replay %d calls = %v; want thresholds from the cache and one BatchGetItem for state", i, c)
		}
	}
}

// stream makes readings of evaltest.Stream as the Kinesis event that carries them.
func stream(devices, n int, start time.Time) (events.KinesisEvent, map[string][][]byte) {
	msgs, perDevice := evaltest.Stream(devices, n, start)
	var ev events.KinesisEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID: m.Source,
			Kinesis: events.KinesisRecord{Data: m.Data, PartitionKey: m.TopicDevice, SequenceNumber: m.ID,
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: m.Arrival}},
		})
	}
	return ev, perDevice
}

// TestFaultsLoseNoAlertAndDuplicateOnlyInTheWindow runs 1,800 readings through the handler with
// DynamoDB and SNS failing: requests that fail before they are done (HTTP 500), responses lost
// after the request was done (a reset connection), and both. No alert may be lost, and every
// duplicate must be explained by one of the two cases of the evaluator's package doc: alerts
// published whose state was not recorded (Stats.PublishedUncommitted), and PublishBatch entries
// whose response was lost (the SDK sends that request again).
func TestFaultsLoseNoAlertAndDuplicateOnlyInTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail, drop float64
		seed       uint64
		remind     int64
	}{
		{"20% failed requests", 0.2, 0, 7, 0},
		{"20% lost responses", 0, 0.2, 8, 0},
		{"10% failed, 10% lost", 0.1, 0.1, 9, 0},
		{"10% failed, 10% lost, reminders", 0.1, 0.1, 10, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const devices, minutes = 12, 150
			e := newEnv(t, 0, tc.seed, evaluator.Config{CacheTTL: 0, LoadConcurrency: 4})
			cfgs := evaltest.Configs(devices)
			for i := range cfgs {
				cfgs[i].RemindSeconds = tc.remind
				cfgs[i].Version = 1 // as the put stores them: the expected alerts carry it
			}
			require.NoError(t, e.store.PutThresholds(context.Background(), cfgs))
			for _, f := range []*awstest.Faults{e.ddbFaults, e.snsFaults} {
				f.SetRate(tc.fail)
				f.SetDropRate(tc.drop)
			}
			ev, perDevice := stream(devices, minutes, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
			want := evaltest.Expected(t, perDevice, cfgs)
			require.GreaterOrEqual(t, len(want), 100, "the scenario must be busy")

			attempts := 0
			for start := 0; start < len(ev.Records); start += 100 {
				attempts += e.deliver(t, events.KinesisEvent{Records: ev.Records[start:min(start+100, len(ev.Records))]})
			}
			// Each alert reaches its user's queue (filtered on user_id); goaws under load has been
			// seen to miss a few in the unfiltered queue while the user's queue had them.
			var got []alert.Alert
			for _, q := range []string{"alice", "bob", "carol"} {
				got = append(got, e.received(t, q)...)
			}
			seen := map[string]int{}
			for _, a := range got {
				seen[a.AlertID]++
				assert.Contains(t, want, a.AlertID, "unexpected alert %+v", a)
			}
			for id, a := range want {
				assert.NotZero(t, seen[id], "lost alert %s %s %s %s at %s", a.UserID, a.DeviceID, a.Rule, a.Kind, a.AlertTime)
			}
			dups, uncommitted := 0, 0
			for _, n := range seen {
				dups += n - 1
			}
			for _, s := range e.stats {
				uncommitted += s.PublishedUncommitted
			}
			di, dt := e.ddbFaults.Counts()
			si, stt := e.snsFaults.Counts()
			dd, _ := e.ddbFaults.Dropped()
			sd, lostEntries := e.snsFaults.Dropped()
			t.Logf("%d alerts expected, %d delivered, %d duplicates; %d invocations for %d batches; failed requests: DynamoDB %d/%d, SNS %d/%d; lost responses: DynamoDB %d, SNS %d (%d alerts); published-uncommitted %d",
				len(want), len(got), dups, len(e.stats), (len(ev.Records)+99)/100, di, dt, si, stt, dd, sd, lostEntries, uncommitted)
			assert.LessOrEqual(t, dups, uncommitted+lostEntries,
				"duplicates beyond the two documented cases (published-uncommitted %d, entries of lost PublishBatch responses %d)", uncommitted, lostEntries)
			// The faults must have been exercised (below); whether they made a batch fail depends on
			// where they fell: the SDK's own retries absorb most.
			t.Logf("%d deliveries for %d batches", attempts, (len(ev.Records)+99)/100)
			if tc.fail > 0 {
				assert.True(t, di > 0 && si > 0, "no failed request (DynamoDB %d, SNS %d)", di, si)
			}
			if tc.drop > 0 {
				assert.True(t, dd > 0 && sd > 0, "no lost response (DynamoDB %d, SNS %d)", dd, sd)
			}
		})
	}
}

func TestReplayOfOverlappingBatchesPublishesOnce(t *testing.T) {
	const devices, minutes = 5, 60
	e := newEnv(t, 0, 3, evaluator.DefaultConfig)
	cfgs := evaltest.Configs(devices)
	if err := e.store.PutThresholds(context.Background(), cfgs); err != nil {
		t.Fatal(err)
	}
	ev, perDevice := stream(devices, minutes, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	want := evaltest.Expected(t, perDevice, cfgs)
	// Batches of 100 that each start 40 records before the previous one ended.
	for start := 0; start < len(ev.Records); start += 60 {
		e.deliver(t, events.KinesisEvent{Records: ev.Records[start:min(start+100, len(ev.Records))]})
	}
	// And the whole stream three more times.
	for i := 0; i < 3; i++ {
		e.deliver(t, ev)
	}
	got := e.received(t, "all")
	if len(got) != len(want) {
		t.Errorf("delivered %d alerts; want each of the %d once", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, a := range got {
		if seen[a.AlertID] {
			t.Errorf("alert %s delivered twice", a.AlertID)
		}
		seen[a.AlertID] = true
	}
}

// BenchmarkHandler: the whole handler against the emulators, 1,000-record batches of 100 devices,
// first with a cold cache (every device uncached), then warm. Reports AWS requests per batch:
// reads should be the uncached devices (+1 BatchGetItem per 100 cached), writes one per changed
// device, SNS calls ceil(alerts/10). Its readings/s measures the emulators more than the handler.
// BenchmarkHandler: batches of 100 devices, each with 10 readings (a backlog) or with one (a
// fleet reporting once a minute, each batch a minute of it: the case the cost per reading is
// figured for), with the thresholds cache cold and warm. It reports the AWS calls a batch makes
// and the DynamoDB writes per reading.
func BenchmarkHandler(b *testing.B) {
	for _, c := range []struct {
		name      string
		warm      bool
		perDevice int
		batched   bool // each device's readings in one batched message
	}{{"cache_warm=false", false, 10, false}, {"cache_warm=true", true, 10, false}, {"one_a_minute", true, 1, false},
		{"ten_a_message", true, 10, true}} {
		b.Run(c.name, func(b *testing.B) {
			warm := c.warm
			e := newEnv(b, 0, 1, evaluator.DefaultConfig)
			cfgs := evaltest.Configs(100)
			if err := e.store.PutThresholds(context.Background(), cfgs); err != nil {
				b.Fatal(err)
			}
			round := func(i int) { // one batch of new data: times move on each round
				ev, _ := stream(100, c.perDevice, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Duration(c.perDevice)*time.Minute))
				if c.batched {
					ev = batchedEvent(ev)
				}
				if resp, _ := e.h.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 {
					b.Fatal("failures")
				}
			}
			if warm {
				round(-1)
			}
			e.calls.Take()
			var reads, writes, sns, alerts, batches int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if !warm {
					e.h = e.handler(evaluator.DefaultConfig)
				}
				b.StartTimer()
				round(i)
				b.StopTimer()
				calls := e.callCounts[len(e.callCounts)-1]
				reads += calls["DynamoDB.Query"] + calls["DynamoDB.BatchGetItem"]
				writes += calls["DynamoDB.PutItem"]
				sns += awsclient.Service(calls, "SNS")
				for _, n := range e.stats[len(e.stats)-1].Alerts {
					alerts += n
				}
				batches++
				b.StartTimer()
			}
			b.ReportMetric(float64(reads)/float64(batches), "ddb-reads/batch")
			b.ReportMetric(float64(writes)/float64(batches), "ddb-writes/batch")
			b.ReportMetric(float64(sns)/float64(batches), "sns-calls/batch")
			b.ReportMetric(float64(alerts)/float64(batches), "alerts/batch")
			b.ReportMetric(float64(writes)/float64(batches*100*c.perDevice), "ddb-writes/reading")
			b.ReportMetric(float64(batches*100*c.perDevice)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}

// batchedEvent regroups an event's single readings into one batched message per device (DESIGN.md,
// "Batched messages"), in order, the batch arriving with its last reading.
func batchedEvent(ev events.KinesisEvent) events.KinesisEvent {
	var out events.KinesisEvent
	at := map[string]int{}
	for _, r := range ev.Records {
		dev := r.Kinesis.PartitionKey
		prefix := `{"device_id":"` + dev + `",`
		elem := "{" + strings.TrimPrefix(string(r.Kinesis.Data), prefix)
		if i, ok := at[dev]; ok {
			k := &out.Records[i].Kinesis
			k.Data = append(k.Data[:len(k.Data)-2], []byte(","+elem+"]}")...)
			k.ApproximateArrivalTimestamp = r.Kinesis.ApproximateArrivalTimestamp
			continue
		}
		r.Kinesis.Data = []byte(prefix + `"readings":[` + elem + "]}")
		at[dev] = len(out.Records)
		out.Records = append(out.Records, r)
	}
	return out
}

// TestFailedPublishIsRetriedAndSentOnce: SNS is down for one batch (its state is not written,
// its first record is reported), then the retry publishes the alert, once.
func TestFailedPublishIsRetriedAndSentOnce(t *testing.T) {
	e := newEnv(t, 0, 11, evaluator.DefaultConfig)
	require.NoError(t, e.store.PutThresholds(context.Background(), []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26)}}))
	record := func(seq string, minute int, temp float64) events.KinesisEventRecord {
		at := time.Date(2026, 3, 1, 8, minute, 0, 0, time.UTC)
		return events.KinesisEventRecord{EventID: "shardId-000000000000:" + seq, Kinesis: events.KinesisRecord{
			SequenceNumber: seq, PartitionKey: "room-1", ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: at},
			Data: fmt.Appendf(nil, `{"device_id":"room-1","event_time":%q,"temperature":%g}`, at.Format(time.RFC3339), temp)}}
	}
	payload := func(recs ...events.KinesisEventRecord) []byte {
		b, err := json.Marshal(events.KinesisEvent{Records: recs})
		require.NoError(t, err)
		return b
	}
	require.Empty(t, e.invoke(t, payload(record("100", 0, 25))).BatchItemFailures)

	e.snsFaults.SetRate(1) // SNS down: every attempt of the SDK fails
	second := payload(record("101", 1, 27), record("102", 2, 27.5))
	resp := e.invoke(t, second)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: "101"}}, resp.BatchItemFailures)
	e.snsFaults.SetRate(0)
	require.Empty(t, e.invoke(t, second).BatchItemFailures, "the retry")
	require.Empty(t, e.invoke(t, second).BatchItemFailures, "a replay")

	assert.Equal(t, []string{"08:00 alice room-1 temperature_high OPEN WARNING", "08:01 alice room-1 temperature_high ESCALATE VIOLATION"},
		short(e.received(t, "all")))
}

// TestRulesOfScopesCostNoRequestPerReading: the DynamoDB requests of a batch of 100 devices in 4
// locations, with the wide thresholds only and then also with rules of their locations and the
// fleet (the long form). A batch with a cold cache reads each device once, as before, and each
// scope once (4 locations and the fleet: 5 Queries, whether they hold rows or not: once a
// minute per running function); a warm one makes exactly the requests of the second edition:
// one BatchGetItem of the states, nothing per reading, per device or per rule.
func TestRulesOfScopesCostNoRequestPerReading(t *testing.T) {
	ctx := context.Background()
	reads := func(withRules bool) (cold, warm map[string]int) {
		e := newEnv(t, 0, 1, evaluator.DefaultConfig)
		require.NoError(t, e.store.PutThresholds(ctx, evaltest.Configs(100)))
		var devs []device.Device
		for i := range 100 {
			devs = append(devs, device.Device{ID: fmt.Sprintf("dev-%03d", i), Location: fmt.Sprintf("Building %c", 'A'+i%4)})
		}
		require.NoError(t, e.store.PutDevices(ctx, devs))
		if withRules {
			rows := []rule.Row{{UserID: "ops", Scope: rule.Scope{Kind: rule.Fleet}, Metric: "co2", Kind: rule.High, Warning: threshold.Of(1000)}}
			for c := 'A'; c <= 'D'; c++ {
				rows = append(rows, rule.Row{UserID: "ops", Scope: rule.Scope{Kind: rule.Location, Name: fmt.Sprintf("Building %c", c)},
					Metric: "humidity", Kind: rule.Low, Warning: threshold.Of(25)})
			}
			require.NoError(t, e.store.PutRules(ctx, rows))
		}
		e.calls.Take()
		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		for i := range 2 {
			ev, _ := stream(100, 1, start.Add(time.Duration(i)*time.Minute))
			payload, err := json.Marshal(ev)
			require.NoError(t, err)
			require.Empty(t, e.invoke(t, payload).BatchItemFailures)
		}
		got := e.callCounts[len(e.callCounts)-2:]
		for _, c := range got {
			delete(c, "DynamoDB.PutItem") // the state writes: as many as changed devices, rules or not
			for k := range c {
				if !strings.HasPrefix(k, "DynamoDB.") {
					delete(c, k)
				}
			}
		}
		return got[0], got[1]
	}
	coldBefore, warmBefore := reads(false)
	coldAfter, warmAfter := reads(true)
	t.Logf("requests of a batch of 100 devices, thresholds only: cold %v, warm %v; with location and fleet rules: cold %v, warm %v",
		coldBefore, warmBefore, coldAfter, warmAfter)
	assert.Equal(t, map[string]int{"DynamoDB.Query": 100 + 4 + 1}, coldBefore, "each device, each location and the fleet read once")
	assert.Equal(t, coldBefore, coldAfter, "the rules add no request")
	assert.Equal(t, map[string]int{"DynamoDB.BatchGetItem": 1}, warmBefore)
	assert.Equal(t, warmBefore, warmAfter, "warm: the same requests as before")
}

// TestADeviceThatMovesLeavesItsLocationsRules: room-1's CO2 episode opened under its location's
// row; `iotwatch devices put` moves it to a location with no CO2 rule. Within the cache's bound
// the old rules still apply (no alert); past it, the next reading resolves the episode, as a
// deleted rule's would be, with no alert after.
func TestADeviceThatMovesLeavesItsLocationsRules(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := evaluator.DefaultConfig
	cfg.Now = clock
	e := newEnv(t, 0, 5, cfg)
	e.store.Now = clock
	e.h = e.handler(cfg)
	require.NoError(t, e.store.PutDevices(ctx, []device.Device{{ID: "room-1", Location: "Building A"}}))
	require.NoError(t, e.store.PutRules(ctx, []rule.Row{{UserID: "alice", Scope: rule.Scope{Kind: rule.Location, Name: "Building A"},
		Metric: "co2", Kind: rule.High, Warning: threshold.Of(1000)}}))
	seq := 200
	send := func(minute int, co2 float64) {
		seq++
		at := time.Date(2026, 3, 1, 8, minute, 0, 0, time.UTC)
		ev := events.KinesisEvent{Records: []events.KinesisEventRecord{{EventID: fmt.Sprintf("shardId-000000000000:%d", seq), Kinesis: events.KinesisRecord{
			SequenceNumber: strconv.Itoa(seq), PartitionKey: "room-1", ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: at},
			Data: fmt.Appendf(nil, `{"device_id":"room-1","event_time":%q,"co2":%g}`, at.Format(time.RFC3339), co2)}}}}
		payload, err := json.Marshal(ev)
		require.NoError(t, err)
		require.Empty(t, e.invoke(t, payload).BatchItemFailures)
	}
	send(0, 1200)
	assert.Equal(t, []string{"08:00 alice room-1 co2_high OPEN WARNING"}, short(e.received(t, "all")))

	require.NoError(t, e.store.PutDevices(ctx, []device.Device{{ID: "room-1", Location: "Building B"}}))
	now = now.Add(30 * time.Second)
	send(1, 1300)
	assert.Empty(t, e.received(t, "all"), "within the bound: Building A's rule still applies, the episode goes on")
	now = now.Add(31 * time.Second) // past 60 s since the rows were read
	send(2, 1300)
	assert.Equal(t, []string{"08:02 alice room-1 co2_high RESOLVE WARNING"}, short(e.received(t, "all")),
		"Building B has no CO2 rule: the episode resolves at the next reading")
	send(3, 1400)
	assert.Empty(t, e.received(t, "all"))
}
