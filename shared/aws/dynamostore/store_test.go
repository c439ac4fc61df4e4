package dynamostore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/golden"
	"github.com/iotwatch/iotwatch/shared/testsupport/storetest"
)

func newStore(t *testing.T) *dynamostore.Store {
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	return dynamostore.New(client, "iotwatch")
}

// TestStoreContract runs the Store contract against the DynamoDB store on the emulator.
func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfgs []threshold.Config, devs []device.Device) evaluator.Store {
		s := newStore(t)
		require.NoError(t, s.PutThresholds(context.Background(), cfgs))
		require.NoError(t, s.PutDevices(context.Background(), devs))
		return s
	})
}

// TestStoredItemFormat pins the STATE item as DynamoDB holds it: a change of format must be
// deliberate (IOTWATCH_UPDATE=1 go test), since items written by the running version must stay
// readable. The checked-in item is read back too.
func TestStoredItemFormat(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	st := storetest.FullState()
	_, err := s.SaveState(ctx, "room-1", evaluator.State{Alarm: st, Version: 0})
	require.NoError(t, err)
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("iotwatch"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "room-1"}, "sk": &types.AttributeValueMemberS{Value: "STATE"}}})
	require.NoError(t, err)
	b, err := json.MarshalIndent(plain(&types.AttributeValueMemberM{Value: out.Item}), "", "  ")
	require.NoError(t, err)
	golden.Check(t, "state-item.golden", string(b)+"\n")

	// And the checked-in item reads back as the state it holds.
	assert.Equal(t, evaluator.State{Alarm: st, Version: 1}, loadStored(t, filepath.Join("testdata", "state-item.golden")))
}

// TestEarlierFormatsDecode: an item every released version wrote (testdata/formats/, copies of
// the golden items of their day, never regenerated) reads back as the state it held.
func TestEarlierFormatsDecode(t *testing.T) {
	for _, f := range storetest.Formats() {
		t.Run(f.Name, func(t *testing.T) {
			assert.Equal(t, evaluator.State{Alarm: f.State, Version: 1}, loadStored(t, filepath.Join("testdata", "formats", f.Name+".json")))
		})
	}
}

// loadStored puts the item at path (DynamoDB's JSON notation) in a new table as it is, and
// returns the state the store reads from it.
func loadStored(t *testing.T, path string) evaluator.State {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v))
	item, ok := fromPlain(t, v).(*types.AttributeValueMemberM)
	require.True(t, ok, "%s holds an item (an M)", path)
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("iotwatch"), Item: item.Value})
	require.NoError(t, err)
	d, err := dynamostore.New(client, "iotwatch").LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	return d.State
}

// fromPlain is plain's inverse.
func fromPlain(t *testing.T, v map[string]any) types.AttributeValue {
	require.Len(t, v, 1, "an attribute value has one type: %v", v)
	for typ, x := range v {
		switch typ {
		case "S":
			return &types.AttributeValueMemberS{Value: x.(string)}
		case "N":
			return &types.AttributeValueMemberN{Value: x.(string)}
		case "BOOL":
			return &types.AttributeValueMemberBOOL{Value: x.(bool)}
		case "L":
			var l []types.AttributeValue
			for _, e := range x.([]any) {
				l = append(l, fromPlain(t, e.(map[string]any)))
			}
			return &types.AttributeValueMemberL{Value: l}
		case "M":
			m := map[string]types.AttributeValue{}
			for k, e := range x.(map[string]any) {
				m[k] = fromPlain(t, e.(map[string]any))
			}
			return &types.AttributeValueMemberM{Value: m}
		}
		t.Fatalf("attribute type %s is not one the STATE item uses", typ)
	}
	return nil
}

// plain renders an attribute value in DynamoDB's JSON notation ({"S": …}, {"N": …}, {"M": …}).
func plain(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = plain(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(v.Value))
		for k, e := range v.Value {
			m[k] = plain(e)
		}
		return map[string]any{"M": m}
	}
	return fmt.Sprintf("%T", v)
}

func TestThresholdsListAndDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var cfgs []threshold.Config
	for i := 0; i < 60; i++ { // more than two BatchWriteItem calls
		cfgs = append(cfgs, threshold.Config{UserID: fmt.Sprintf("user-%02d", i), DeviceID: "room-1", TempWarning: threshold.Of(float64(20 + i%5))})
	}
	if err := s.PutThresholds(ctx, cfgs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListThresholds(ctx, "room-1")
	if err != nil || len(got) != 60 {
		t.Fatalf("ListThresholds = %d configs, %v; want 60", len(got), err)
	}
	if err := s.DeleteThresholds(ctx, "user-07", "room-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThresholds(ctx, "user-07", "room-1"); err == nil || !strings.Contains(err.Error(), "has no thresholds") {
		t.Errorf("second delete = %v; want a clear error", err)
	}
	got, _ = s.ListThresholds(ctx, "room-1")
	if len(got) != 59 {
		t.Errorf("after delete: %d configs; want 59", len(got))
	}
}

// TestPutKeepsVersions: a put keeps the version of an unchanged config, and gives a changed one
// the next (the version alerts carry as config_version).
func TestPutKeepsVersions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alice := threshold.Config{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24)}
	bob := threshold.Config{UserID: "bob", DeviceID: "room-1", TempLowWarning: threshold.Of(18)}
	versions := func() map[string]int64 {
		cfgs, err := s.ListThresholds(ctx, "room-1")
		require.NoError(t, err)
		out := map[string]int64{}
		for _, c := range cfgs {
			out[c.UserID] = c.Version
		}
		return out
	}
	require.NoError(t, s.PutThresholds(ctx, []threshold.Config{alice}))
	require.Equal(t, map[string]int64{"alice": 1}, versions())
	alice.StuckSeconds, alice.RemindSeconds = 1800, 3600
	require.NoError(t, s.PutThresholds(ctx, []threshold.Config{alice, bob}))
	require.Equal(t, map[string]int64{"alice": 2, "bob": 1}, versions())
	require.NoError(t, s.PutThresholds(ctx, []threshold.Config{alice, bob}))
	require.Equal(t, map[string]int64{"alice": 2, "bob": 1}, versions(), "nothing changed")
	cfgs, err := s.ListThresholds(ctx, "room-1")
	require.NoError(t, err)
	for _, c := range cfgs {
		if c.UserID == "alice" {
			assert.True(t, c.Same(alice), "the second-edition columns round-trip: %+v", c)
		}
	}
}

// itemSize is an item's size as DynamoDB bills it: each attribute's name and value, numbers at
// about one byte a two digits plus one, maps and lists three bytes plus one per element.
func itemSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return (len(strings.TrimLeft(v.Value, "-"))+1)/2 + 1
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + itemSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + itemSize(e)
		}
		return n
	}
	return 0
}

// TestStateItemSize: the STATE item of a device with 3 users, every rule on and every episode
// open, and the 32 identities of its last readings, stays under 4 KB: one read unit for a
// strongly consistent read.
func TestStateItemSize(t *testing.T) {
	last := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano()
	st := alarm.DeviceState{Last: last, HasLast: true, Rules: map[string]*alarm.RuleState{},
		Temp: alarm.TempStats{N: 30, Mean: 21.123456789, Var: 0.123456789, StuckValue: 21.5, StuckStart: last - 6e11, StuckLast: last, HasStuck: true}}
	for i := range alarm.RecentIDs {
		st.Recent = append(st.Recent, fmt.Sprintf("m:room-1-%06d", 100000+i))
	}
	for _, user := range []string{"alice@example.com", "bob@example.com", "carol@example.com"} {
		for _, r := range alarm.BuiltInRules {
			st.Rules[alarm.RuleKey(r, user)] = &alarm.RuleState{Flags: 7, LastAt: last, WarnRun: last - 6e11, ViolRun: last - 3e11,
				Open: alarm.Violation, OpenStart: last - 6e11, LastNotice: last - 1e11, OpenID: "0123456789abcdef", NoticeID: "fedcba9876543210"}
		}
	}
	st.Snoozes = []alarm.Snooze{{User: "alice@example.com", Until: last + 36e11, Token: "abcdefghijklmnop"}}
	st.UsedLinks = []alarm.UsedLink{{Code: "abcdefghijklmnop", Until: last + 7*24*36e11}, {Code: "qrstuvwxyzabcdef", Until: last + 7*24*36e11}}
	item, err := attributevalue.MarshalMap(dynamostore.ToItemForTest(st))
	require.NoError(t, err)
	size := itemSize(&types.AttributeValueMemberM{Value: item})
	t.Logf("STATE item of 3 users x 6 rules, all open (with the ids --alert finds them by), 32 recent identities, a snooze, 2 used links: %d bytes", size)
	assert.Less(t, size, 4096)
}

// TestStateItemSizeEveryMetric: the STATE item of a device with every rule of the long form on
// four metrics for one user (high, low, anomaly and stuck on temperature, humidity, CO2 and
// light, and silent: 17 rules), every episode open, the statistics of the four metrics, 32 recent
// identities (digests), a snooze and 2 used links, stays under 4 KB: one read unit for a strongly
// consistent read, 4 write units a write while every episode is open.
func TestStateItemSizeEveryMetric(t *testing.T) {
	last := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano()
	stats := alarm.TempStats{N: 30, Mean: 1021.123456789, Var: 12.123456789, StuckValue: 1021.5, StuckStart: last - 6e11, StuckLast: last, HasStuck: true}
	st := alarm.DeviceState{Last: last, HasLast: true, Rules: map[string]*alarm.RuleState{}, Temp: stats,
		Stats: map[string]*alarm.TempStats{"humidity": &stats, "co2": &stats, "light": &stats}}
	for i := range alarm.RecentIDs {
		st.Recent = append(st.Recent, fmt.Sprintf("d:%011d", i))
	}
	names := []alert.Rule{alert.DeviceSilent}
	for _, m := range []string{"temperature", "humidity", "co2", "light"} {
		for _, k := range []string{"high", "low", "anomaly"} {
			names = append(names, alert.Rule(m+"_"+k))
		}
		if m == "temperature" {
			names = append(names, alert.SensorStuck)
		} else {
			names = append(names, alert.Rule(m+"_stuck"))
		}
	}
	require.Len(t, names, 17)
	for _, r := range names {
		st.Rules[alarm.RuleKey(r, "ops@example.com")] = &alarm.RuleState{Flags: 7, LastAt: last, WarnRun: last - 6e11, ViolRun: last - 3e11,
			Open: alarm.Violation, OpenStart: last - 6e11, LastNotice: last - 1e11, OpenID: "0123456789abcdef", NoticeID: "fedcba9876543210"}
	}
	st.Snoozes = []alarm.Snooze{{User: "ops@example.com", Until: last + 36e11, Token: "abcdefghijklmnop"}}
	st.UsedLinks = []alarm.UsedLink{{Code: "abcdefghijklmnop", Until: last + 7*24*36e11}, {Code: "qrstuvwxyzabcdef", Until: last + 7*24*36e11}}
	item, err := attributevalue.MarshalMap(dynamostore.ToItemForTest(st))
	require.NoError(t, err)
	size := itemSize(&types.AttributeValueMemberM{Value: item})
	t.Logf("STATE item of 1 user x 17 rules on four metrics, all open, 4 metrics' statistics, 32 recent digests, a snooze, 2 used links: %d bytes (%d write units)", size, (size+1023)/1024)
	assert.Less(t, size, 4096)
}

// TestDueIndex: the devices whose silence is due come from the due index, not from a scan; a
// state with nothing to come leaves the index.
func TestDueIndex(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	versions := map[string]int64{}
	save := func(id string, due time.Time) {
		v, err := s.SaveState(ctx, id, evaluator.State{Alarm: alarm.DeviceState{Last: t0.UnixNano(), HasLast: true}, Version: versions[id], Due: due})
		require.NoError(t, err)
		versions[id] = v
	}
	for i := range 40 { // spread over the shards
		save(fmt.Sprintf("dev-%02d", i), t0.Add(time.Duration(i)*time.Minute))
	}
	save("never", time.Time{})
	due, err := s.DueDevices(ctx, t0.Add(4*time.Minute+30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []string{"dev-00", "dev-01", "dev-02", "dev-03", "dev-04"}, ids(due))
	for i, d := range due {
		assert.Equal(t, t0.Add(time.Duration(i)*time.Minute), d.At, "when %s fell due", d.ID)
	}
	save("dev-02", time.Time{})       // its silence resolved, nothing to come
	save("dev-03", t0.Add(time.Hour)) // a reading moved it on
	due, err = s.DueDevices(ctx, t0.Add(4*time.Minute+30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []string{"dev-00", "dev-01", "dev-04"}, ids(due))
	due, err = s.DueDevices(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Contains(t, ids(due), "dev-03", "a device whose due time moved is listed at its new time")
	assert.NotContains(t, ids(due), "dev-02", "a device with nothing to come has left the index")
	d, err := s.LoadDevice(ctx, "dev-04")
	require.NoError(t, err)
	assert.True(t, d.State.Due.Equal(t0.Add(4*time.Minute)), "the due time reads back: %s", d.State.Due)
}

func ids(due []evaluator.DueDevice) []string {
	out := make([]string, len(due))
	for i, d := range due {
		out[i] = d.ID
	}
	return out
}

// TestATypicalStateIsOneWriteUnit: a device of one user with two rules (high and low
// temperature), after 40 readings whose msg_ids are UUIDs, is under 1 KB: one write unit a
// conditional PutItem, not two (its 32 recent identities are kept as digests).
func TestATypicalStateIsOneWriteUnit(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	cfg := []threshold.Config{{UserID: "alice@example.com", DeviceID: "room-1", TempWarning: threshold.Of(26), TempLowWarning: threshold.Of(18), SustainSeconds: 300}}
	var st alarm.DeviceState
	d := alarm.NewDevice(&st, cfg)
	for i := range 40 {
		r := reading.Reading{DeviceID: "room-1", EventTime: t0.Add(time.Duration(i) * time.Minute), MsgID: fmt.Sprintf("%08x-9a4d-4f6b-8e2a-1c5d7e9f0a3b", i)}
		r.Set(reading.Temperature, 21)
		d.Apply(&r, func(alert.Alert) {})
	}
	require.True(t, d.Finish())
	item, err := attributevalue.MarshalMap(dynamostore.ToItemForTest(st))
	require.NoError(t, err)
	size := itemSize(&types.AttributeValueMemberM{Value: item})
	t.Logf("a typical STATE item: %d bytes", size)
	assert.Less(t, size, 1024, "one write unit")
}

// stingy processes the first half (rounded up) of each batch call's items and answers the rest
// as unprocessed, as DynamoDB does when a call runs over its throughput.
type stingy struct {
	dynamostore.Client
	writes, gets []int // items per call
}

func (c *stingy) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	reqs := in.RequestItems["iotwatch"]
	c.writes = append(c.writes, len(reqs))
	n := len(reqs) - len(reqs)/2
	out, err := c.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"iotwatch": reqs[:n]}}, opts...)
	if err == nil && n < len(reqs) {
		out.UnprocessedItems = map[string][]types.WriteRequest{"iotwatch": reqs[n:]}
	}
	return out, err
}

func (c *stingy) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	ka := in.RequestItems["iotwatch"]
	c.gets = append(c.gets, len(ka.Keys))
	n := len(ka.Keys) - len(ka.Keys)/2
	first := ka
	first.Keys = ka.Keys[:n]
	out, err := c.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"iotwatch": first}}, opts...)
	if err == nil && n < len(ka.Keys) {
		rest := ka
		rest.Keys = ka.Keys[n:]
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{"iotwatch": rest}
	}
	return out, err
}

// TestUnprocessedItemsAreSentAgain: the items a batch call left unprocessed, and only they, are
// sent again until none is left; when the attempts run out, the error says how many are left.
func TestUnprocessedItemsAreSentAgain(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	c := &stingy{Client: client}
	s := dynamostore.New(c, "iotwatch")
	s.Backoff = time.Millisecond
	var devs []device.Device
	var ids []string
	for i := range 30 {
		devs = append(devs, device.Device{ID: fmt.Sprintf("room-%02d", i), Name: "Room"})
		ids = append(ids, devs[i].ID)
	}
	require.NoError(t, s.PutDevices(ctx, devs))
	assert.Equal(t, []int{25, 12, 6, 3, 1, 5, 2, 1}, c.writes, "25 a call; then what is left of them")
	for _, id := range ids {
		_, err := s.SaveState(ctx, id, evaluator.State{})
		require.NoError(t, err)
	}
	states, err := s.LoadStates(ctx, ids)
	require.NoError(t, err)
	assert.Len(t, states, 30)
	assert.Equal(t, []int{30, 15, 7, 3, 1}, c.gets)

	s.Attempts = 2
	c.writes = nil
	err = s.PutDevices(ctx, devs[:7])
	var refused *awsclient.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, awsclient.RefusedError{Service: "DynamoDB", Target: "iotwatch", Count: 1, Attempts: 2}, *refused)
	assert.ErrorContains(t, err, "writing items 1-7: DynamoDB: 1 records refused by iotwatch after 2 attempts")
	assert.Equal(t, []int{7, 3}, c.writes)
}
