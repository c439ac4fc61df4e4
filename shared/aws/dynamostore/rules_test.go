package dynamostore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/storetest"
)

// rulesStore is the DynamoDB store as storetest.RunRules changes it: rows replaced as
// `iotwatch rules put` and `delete` would, devices as `iotwatch devices put` does.
type rulesStore struct{ *dynamostore.Store }

func (s rulesStore) SetRules(t *testing.T, rows []rule.Row) {
	ctx := context.Background()
	stored, err := s.ListRules(ctx, nil)
	require.NoError(t, err)
	keep := map[rule.Key]bool{}
	for _, r := range rows {
		keep[r.Key()] = true
	}
	var gone []rule.Key
	for _, r := range stored {
		if !keep[r.Key()] {
			gone = append(gone, r.Key())
		}
	}
	if len(gone) > 0 {
		require.NoError(t, s.DeleteRules(ctx, gone))
	}
	require.NoError(t, s.PutRules(ctx, rows))
}

func (s rulesStore) SetDevices(t *testing.T, devs []device.Device) {
	require.NoError(t, s.PutDevices(context.Background(), devs))
}

// TestRulesContract runs the rules' part of the Store contract on the emulator, with the cache
// of the locations' and the fleet's rows off (TestScopeRulesAreCached covers it).
func TestRulesContract(t *testing.T) {
	storetest.RunRules(t, func(t *testing.T, rows []rule.Row, devs []device.Device) storetest.RulesStore {
		s := rulesStore{newStore(t)}
		s.RulesCache = 0
		s.SetRules(t, rows)
		s.SetDevices(t, devs)
		return s
	})
}

func row(user, scope, metric string, kind rule.Kind, warning float64) rule.Row {
	sc, err := rule.ParseScope(scope)
	if err != nil {
		panic(err)
	}
	return rule.Row{UserID: user, Scope: sc, Metric: metric, Kind: kind, Warning: threshold.Of(warning)}
}

// TestScopeRulesAreCached: the devices of a location read its rows and the fleet's once, not
// once each; an edit is seen once the cache's bound has passed, never later.
func TestScopeRulesAreCached(t *testing.T) {
	ctx := context.Background()
	calls := &awsclient.Counter{}
	_, client := awstest.DynamoDB(t, awstest.WithAPIOptions(calls.Add))
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	var devs []device.Device
	for _, id := range []string{"room-1", "room-2", "room-3", "room-4"} {
		devs = append(devs, device.Device{ID: id, Location: "Building A"})
	}
	require.NoError(t, s.PutDevices(ctx, devs))
	require.NoError(t, s.PutRules(ctx, []rule.Row{row("ops", "fleet", "co2", rule.High, 1000), row("ops", "location:Building A", "humidity", rule.Low, 25)}))
	calls.Take()
	readAt := now // when the scopes were last read
	warnings := func() []float64 {
		var out []float64
		for _, d := range devs {
			got, err := s.LoadDevice(ctx, d.ID)
			require.NoError(t, err)
			require.Len(t, got.Rows, 2)
			assert.Equal(t, readAt, got.RowsAsOf, "RowsAsOf is when the rows were read")
			out = append(out, got.Rows[0].Warning.V)
		}
		return out
	}
	assert.Equal(t, []float64{1000, 1000, 1000, 1000}, warnings())
	assert.Equal(t, map[string]int{"DynamoDB.Query": 4 + 2}, calls.Take(), "one Query a device, one for the fleet, one for the location")

	require.NoError(t, s.PutRules(ctx, []rule.Row{row("ops", "fleet", "co2", rule.High, 1200)}))
	calls.Take()
	now = now.Add(table60s - time.Second)
	assert.Equal(t, []float64{1000, 1000, 1000, 1000}, warnings(), "within the bound: the rows read before")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 4}, calls.Take())
	now = now.Add(time.Second)
	readAt = now
	assert.Equal(t, []float64{1200, 1200, 1200, 1200}, warnings(), "at the bound: read again")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 4 + 2}, calls.Take())

	// A device of another location: its location is read now, the fleet's rows 30 s ago: its
	// rows are as old as the older.
	require.NoError(t, s.PutDevices(ctx, []device.Device{{ID: "room-9", Location: "Building B"}}))
	now = now.Add(30 * time.Second)
	got, err := s.LoadDevice(ctx, "room-9")
	require.NoError(t, err)
	assert.Equal(t, readAt, got.RowsAsOf, "the fleet's read, the older")
}

const table60s = 60 * time.Second

// TestThresholdItemsOfTodayStillWork: THRESHOLD items as a deployed stack holds them (written by
// the second edition's `thresholds put`, testdata/threshold-item.json) keep their meaning beside
// rules of the long form, with no migration: the same rules in force, by the same names.
func TestThresholdItemsOfTodayStillWork(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	raw, err := os.ReadFile(filepath.Join("testdata", "threshold-item.json"))
	require.NoError(t, err)
	var plain map[string]any
	require.NoError(t, json.Unmarshal(raw, &plain))
	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: strPtr("iotwatch"), Item: attributes(t, plain)})
	require.NoError(t, err)
	require.NoError(t, s.PutDevices(ctx, []device.Device{{ID: "room-1", Location: "Building A"}}))
	require.NoError(t, s.PutRules(ctx, []rule.Row{row("alice", "location:Building A", "co2", rule.High, 1000),
		row("alice", "fleet", "temperature", rule.High, 30)}))

	d, err := s.LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	require.Len(t, d.Configs, 1, "the THRESHOLD item is read as before")
	got := map[alert.Rule]string{}
	for _, f := range d.InForce() {
		got[f.Name()] = f.Scope.String() + " " + f.Warning.String()
	}
	assert.Equal(t, map[alert.Rule]string{
		"temperature_high": "device:room-1 24", "temperature_low": "device:room-1 18", "light_no_occupancy": "device:room-1 300",
		"temperature_anomaly": "device:room-1 3", alert.SensorStuck: "device:room-1 1800", alert.DeviceSilent: "device:room-1 900",
		"co2_high": "location:Building A 1000",
	}, got, "the item's device rows win over the fleet's temperature rule; the location's CO2 rule joins them")
}

func strPtr(s string) *string { return &s }

// attributes turns a plain JSON item (strings, numbers) into DynamoDB attributes.
func attributes(t *testing.T, plain map[string]any) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for k, v := range plain {
		switch v := v.(type) {
		case string:
			out[k] = &types.AttributeValueMemberS{Value: v}
		case float64:
			out[k] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'g', -1, 64)}
		default:
			t.Fatalf("attribute %s: %T", k, v)
		}
	}
	return out
}

// TestRulesPutListDelete: put keeps versions, refuses past the limits with nothing written;
// delete of an absent row refuses the whole call.
func TestRulesPutListDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := row("ops", "fleet", "co2", rule.High, 1000)
	b := row("ops", "device:room-1", "humidity", rule.Low, 20)
	require.NoError(t, s.PutRules(ctx, []rule.Row{a, b}))
	a.Warning = threshold.Of(1100)
	require.NoError(t, s.PutRules(ctx, []rule.Row{a, b}))
	rows, err := s.ListRules(ctx, nil)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "fleet co2_high", rows[0].Scope.String()+" "+string(rows[0].Name()), "the fleet's rows first, the devices' last")
	assert.Equal(t, int64(2), rows[0].Version, "changed: the next")
	assert.Equal(t, int64(1), rows[1].Version, "unchanged: kept")
	fleet := rule.Scope{Kind: rule.Fleet}
	only, err := s.ListRules(ctx, &fleet)
	require.NoError(t, err)
	require.Len(t, only, 1)
	assert.Equal(t, 1100.0, only[0].Warning.V)

	huge := row("ops", "fleet", "light", rule.High, 1e300)
	require.ErrorContains(t, s.PutRules(ctx, []rule.Row{huge}), "row 1: warning: 1e+300 is beyond what DynamoDB stores")
	err = s.DeleteRules(ctx, []rule.Key{b.Key(), row("ops", "fleet", "light", rule.High, 1).Key()})
	require.ErrorContains(t, err, "no such rule, nothing deleted: user ops, scope fleet, metric light, rule high")
	rows, _ = s.ListRules(ctx, nil)
	assert.Len(t, rows, 2, "nothing deleted")
	require.NoError(t, s.DeleteRules(ctx, []rule.Key{b.Key(), b.Key()}), "a key named twice is deleted once")
	rows, _ = s.ListRules(ctx, nil)
	assert.Len(t, rows, 1)

	var many []rule.Row
	for i := range rule.MaxRowsPerUser {
		many = append(many, row("ops", "device:room-"+itoa(i), "co2", rule.High, 1000))
	}
	err = s.PutRules(ctx, many)
	require.ErrorContains(t, err, "row 500: user_id: ops has more than 500 rules")
	rows, _ = s.ListRules(ctx, nil)
	assert.Len(t, rows, 1, "nothing written")
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestCatalogIsReadWithTheFleet: the metrics catalog comes from the fleet's partition in the
// Query that reads the fleet's rows (none of its own), is cached with them, and an edit reaches
// the store within the bound; the fleet's rules may name its metrics.
func TestCatalogIsReadWithTheFleet(t *testing.T) {
	ctx := context.Background()
	calls := &awsclient.Counter{}
	_, client := awstest.DynamoDB(t, awstest.WithAPIOptions(calls.Add))
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	require.NoError(t, s.PutMetrics(ctx, []reading.Declared{{Name: "pm25", Unit: "µg/m³", Min: 0, Max: 1000}}))
	require.NoError(t, s.PutRules(ctx, []rule.Row{row("ops", "fleet", "pm25", rule.High, 35)}))
	calls.Take()
	cat, err := s.Catalog(ctx)
	require.NoError(t, err)
	assert.Equal(t, "µg/m³", cat.Unit("pm25"))
	d, err := s.LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	require.Len(t, d.Rows, 1)
	assert.Equal(t, "pm25", d.Rows[0].Metric)
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1 + 1}, calls.Take(), "the fleet's partition once (catalog and rows), the device's own")

	require.NoError(t, s.PutMetrics(ctx, []reading.Declared{{Name: "voc", Unit: "ppb", Min: 0, Max: 60000}}))
	now = now.Add(table60s - time.Second)
	cat, _ = s.Catalog(ctx)
	assert.False(t, cat.Known("voc"), "within the bound: the catalog read before")
	now = now.Add(time.Second)
	cat, _ = s.Catalog(ctx)
	assert.True(t, cat.Known("voc"), "at the bound: read again")
}
