package dynamostore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
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
// deliberate (go test -update), since items written by the running version must stay readable.
func TestStoredItemFormat(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	st := alarm.DeviceState{Last: 1422886740000000000, HasLast: true, Recent: []string{"m:room-1-000140", "t:1422886680000000000"},
		Rules: map[string]*alarm.RuleState{
			"temperature_high:alice":   {Flags: 3, LastAt: 1422886740000000000, WarnRun: 1422886620000000000, Open: alarm.Warning, OpenStart: 1422886620000000000, LastNotice: 1422886620000000000},
			"light_no_occupancy:carol": {Flags: 1, LastAt: 1422886740000000000},
			"device_silent:bob":        {Open: alarm.Warning, OpenStart: 1422885840000000000, LastNotice: 1422886740000000000},
		},
		Temp: alarm.TempStats{N: 30, Mean: 21.25, Var: 0.0625, StuckValue: 21.5, StuckStart: 1422886140000000000, StuckLast: 1422886740000000000, HasStuck: true}}
	_, err := s.SaveState(ctx, "room-1", evaluator.State{Alarm: st, Version: 0})
	require.NoError(t, err)
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("iotwatch"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "room-1"}, "sk": &types.AttributeValueMemberS{Value: "STATE"}}})
	require.NoError(t, err)
	b, err := json.MarshalIndent(plain(&types.AttributeValueMemberM{Value: out.Item}), "", "  ")
	require.NoError(t, err)
	golden.Check(t, "state-item.golden", string(b)+"\n")

	// And what was stored reads back as it was written.
	d, err := s.LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	require.Equal(t, evaluator.State{Alarm: st, Version: 1}, d.State)
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
