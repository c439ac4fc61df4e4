package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
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

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// env is the evaluate function wired to emulators, as functions/evaluate/main.go wires it to AWS.
type env struct {
	h          *evaluator.Handler
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
	for name, policy := range map[string]string{"all": "", "alice": `{"user_id":["alice"]}`, "carol": `{"user_id":["carol"]}`} {
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

// handler returns a new handler (with a cold cache) over the env's adapters.
func (e *env) handler(cfg evaluator.Config) *evaluator.Handler {
	return evaluator.New(e.store, e.pub, e.quarantine, cfg, testLogger(), e.observe)
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

// received drains a queue and returns the alerts delivered to it, in arrival order.
func (e *env) received(t testing.TB, queue string) []alert.Alert {
	t.Helper()
	url := e.queues[queue]
	var out []alert.Alert
	for empty := 0; empty < 2; {
		res, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range res.Messages {
			var envl struct{ Message string }
			var a alert.Alert
			if err := json.Unmarshal([]byte(*m.Body), &envl); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(envl.Message), &a); err != nil {
				t.Fatalf("not an alert: %s", envl.Message)
			}
			out = append(out, a)
			e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		}
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
	if calls["DynamoDB.Query"] != 2 || awsclient.Service(calls, "DynamoDB") != 4 || calls["SNS.PublishBatch"] != 1 || calls["S3.PutObject"] != 1 {
		t.Errorf("calls = %v; want 2 Query (one per device), 2 PutItem, 1 PublishBatch, 1 PutObject", calls)
	}

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

// stream makes readings for devices×n minutes with temperatures that cross the thresholds often.
func stream(devices, n int, start time.Time) (events.KinesisEvent, map[string][][]byte) {
	var ev events.KinesisEvent
	perDevice := map[string][][]byte{}
	seq := new(big.Int).SetUint64(1 << 62)
	for m := 0; m < n; m++ {
		for d := 0; d < devices; d++ {
			id := fmt.Sprintf("dev-%03d", d)
			temp := 21 + 4*math.Sin(float64(m)/(7+float64(d%5))) + float64(d%3)*0.3
			occ := (m / 30) % 2
			light := 50.0
			if m%17 < 6 {
				light = 500
			}
			data := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":%.2f,"humidity":30,"light":%g,"co2":600,"occupancy":%d,"msg_id":"%s-%d"}`,
				id, start.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), temp, light, occ, id, start.Unix()/60+int64(m))
			seq.Add(seq, big.NewInt(1))
			ev.Records = append(ev.Records, events.KinesisEventRecord{
				EventID: "shardId-000000000001:" + seq.String(),
				Kinesis: events.KinesisRecord{Data: []byte(data), PartitionKey: id, SequenceNumber: seq.String(),
					ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: start.Add(time.Duration(m)*time.Minute + time.Second)}},
			})
			perDevice[id] = append(perDevice[id], []byte(data))
		}
	}
	return ev, perDevice
}

func streamConfigs(devices int) []threshold.Config {
	var cfgs []threshold.Config
	for d := 0; d < devices; d++ {
		id := fmt.Sprintf("dev-%03d", d)
		cfgs = append(cfgs,
			threshold.Config{UserID: "alice", DeviceID: id, TempWarning: threshold.Of(23), TempViolation: threshold.Of(24.5), SustainSeconds: 120},
			threshold.Config{UserID: "bob", DeviceID: id, TempLowWarning: threshold.Of(19), TempLowViolation: threshold.Of(17.5)},
			threshold.Config{UserID: "carol", DeviceID: id, LightNoOccupancy: threshold.Of(300), SustainSeconds: 60},
		)
	}
	return cfgs
}

// expected runs the alarm core directly over each device's readings: the alerts a fault-free
// pipeline must deliver.
func expected(t testing.TB, perDevice map[string][][]byte, cfgs []threshold.Config) map[string]alert.Alert {
	out := map[string]alert.Alert{}
	for id, lines := range perDevice {
		var mine []threshold.Config
		for _, c := range cfgs {
			if c.DeviceID == id {
				mine = append(mine, c)
			}
		}
		d := alarm.NewDevice(&alarm.DeviceState{}, mine)
		for _, l := range lines {
			r, err := reading.Decode(l, reading.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d.Apply(&r, func(a alert.Alert) { out[a.AlertID] = a })
		}
	}
	return out
}

func TestFaultsLoseNoAlertAndDuplicateOnlyInTheWindow(t *testing.T) {
	const devices, minutes = 12, 150
	e := newEnv(t, 0.2, 7, evaluator.Config{CacheTTL: 0, LoadConcurrency: 4, TopicFromPartitionKey: true})
	cfgs := streamConfigs(devices)
	rate := e.ddbFaults.Rate
	e.ddbFaults.SetRate(0)
	if err := e.store.PutThresholds(context.Background(), cfgs); err != nil {
		t.Fatal(err)
	}
	e.ddbFaults.SetRate(rate)
	ev, perDevice := stream(devices, minutes, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	want := expected(t, perDevice, cfgs)
	if len(want) < 100 {
		t.Fatalf("scenario raises only %d alerts; want a busier one", len(want))
	}

	attempts := 0
	for start := 0; start < len(ev.Records); start += 100 {
		attempts += e.deliver(t, events.KinesisEvent{Records: ev.Records[start:min(start+100, len(ev.Records))]})
	}
	got := e.received(t, "all")
	seen := map[string]int{}
	for _, a := range got {
		seen[a.AlertID]++
		if _, ok := want[a.AlertID]; !ok {
			t.Errorf("unexpected alert %+v", a)
		}
	}
	for id, a := range want {
		if seen[id] == 0 {
			t.Errorf("lost alert %s %s %s %s at %s", a.UserID, a.DeviceID, a.Rule, a.Kind, a.AlertTime)
		}
	}
	dups, window := 0, 0
	for _, n := range seen {
		dups += n - 1
	}
	for _, s := range e.stats {
		window += s.PublishedUncommitted
	}
	di, dt := e.ddbFaults.Counts()
	si, stt := e.snsFaults.Counts()
	t.Logf("%d alerts expected, %d delivered, %d duplicates; %d invocations for %d batches; faults injected: DynamoDB %d/%d, SNS %d/%d; published-uncommitted %d",
		len(want), len(got), dups, len(e.stats), (len(ev.Records)+99)/100, di, dt, si, stt, window)
	if dups > window {
		t.Errorf("%d duplicate deliveries, more than the %d alerts published in the documented window", dups, window)
	}
	if di == 0 || si == 0 || attempts == (len(ev.Records)+99)/100 {
		t.Errorf("no fault was exercised (DynamoDB %d, SNS %d, attempts %d)", di, si, attempts)
	}
}

func TestReplayOfOverlappingBatchesPublishesOnce(t *testing.T) {
	const devices, minutes = 5, 60
	e := newEnv(t, 0, 3, evaluator.DefaultConfig)
	cfgs := streamConfigs(devices)
	if err := e.store.PutThresholds(context.Background(), cfgs); err != nil {
		t.Fatal(err)
	}
	ev, perDevice := stream(devices, minutes, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	want := expected(t, perDevice, cfgs)
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
