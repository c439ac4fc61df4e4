// Package dynamostore keeps thresholds, device metadata and alarm state in one DynamoDB table,
// laid out as shared/contract/table describes. State writes are conditional on the version that
// was read (optimistic locking). The stored alarm state is alarm.Record; this package adds the
// item's keys and the due index's attributes (stateItem, pinned by a golden test).
package dynamostore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// The table's key names, for brevity.
const (
	PK              = table.PK
	SK              = table.SK
	SKMeta          = table.SKMeta
	SKState         = table.SKState
	SKThresholdPref = table.SKThresholdPrefix
)

// stateItem is the STATE item (without its keys): the stored alarm state (alarm.Record) and the
// due index's keys. Changing it changes what is stored: testdata/state-item.golden pins it, and
// testdata/formats/ holds every earlier format, which must still decode.
type stateItem struct {
	alarm.Record
	// The due index's keys (table.DueIndex): present only while something is due to come.
	DueShard string `dynamodbav:"due_shard,omitempty"`
	DueAt    int64  `dynamodbav:"due_at,omitempty"`
}

func toItem(id string, st evaluator.State, version int64) stateItem {
	it := stateItem{Record: alarm.ToRecord(st.Alarm, version)}
	if !st.Due.IsZero() {
		it.DueShard, it.DueAt = DueShard(id), st.Due.UnixMilli()
	}
	return it
}

func (it stateItem) state() evaluator.State {
	st := evaluator.State{Alarm: alarm.FromRecord(it.Record), Version: it.Version}
	if it.DueShard != "" {
		st.Due = time.UnixMilli(it.DueAt).UTC()
	}
	return st
}

func decodeState(item map[string]types.AttributeValue) (evaluator.State, error) {
	var it stateItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return evaluator.State{}, fmt.Errorf("decoding a STATE item: %w", err)
	}
	return it.state(), nil
}

// Client is the part of the DynamoDB API the store uses.
type Client interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Store is the DynamoDB store.
type Store struct {
	client Client
	table  string
	// Retry is how the unprocessed items of batch calls are sent again: 8 attempts, the first
	// wait 50 ms.
	awsclient.Retry
	// RulesCache is how long the rows of a location or of the fleet are reused after they were
	// read (New: table.RulesCacheBound); 0 reads them for every device.
	RulesCache time.Duration
	// Now is the clock of that cache (tests set it); nil means time.Now.
	Now   func() time.Time
	rules rulesCache
}

var _ evaluator.Store = (*Store)(nil)

// New returns a store over table.
func New(client Client, tableName string) *Store {
	return &Store{client: client, table: tableName, Retry: awsclient.Retry{Attempts: 8, Backoff: 50 * time.Millisecond},
		RulesCache: table.RulesCacheBound}
}

// LoadDevice reads a device's metadata, every user's thresholds and rules and its alarm state
// with one strongly consistent Query (more pages only for a device with thousands of users), then
// the rows of its location and of the fleet: from the cache (RulesCache) when read recently, so
// that in steady state a device costs the one Query it cost before rules had scopes.
func (s *Store) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	d, err := s.loadPartition(ctx, id)
	if err != nil {
		return d, err
	}
	scopes := []rule.Scope{{Kind: rule.Fleet}}
	if d.Info.Location != "" {
		scopes = append(scopes, rule.Scope{Kind: rule.Location, Name: d.Info.Location})
	}
	for _, sc := range scopes {
		read, at, err := s.scopeRows(ctx, sc)
		if err != nil {
			return d, fmt.Errorf("reading the rules of %s for device %s: %w", sc, id, err)
		}
		d.Rows = append(d.Rows, read.rows...)
		if d.RowsAsOf.IsZero() || at.Before(d.RowsAsOf) {
			d.RowsAsOf = at
		}
	}
	return d, nil
}

// loadPartition reads the device's own partition.
func (s *Store) loadPartition(ctx context.Context, id string) (evaluator.Device, error) {
	d := evaluator.Device{Info: device.Device{ID: id}, Configs: []threshold.Config{}}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return d, fmt.Errorf("querying device %s: %w", id, err)
		}
		for _, item := range out.Items {
			sk := str(item[SK])
			switch {
			case sk == SKMeta:
				d.Info.Name, d.Info.Location = str(item["name"]), str(item["location"])
			case sk == SKState:
				if d.State, err = decodeState(item); err != nil {
					return d, fmt.Errorf("reading alarm state of %s: %w", id, err)
				}
			case strings.HasPrefix(sk, SKThresholdPref):
				c, err := configFromItem(item)
				if err != nil {
					return d, fmt.Errorf("reading thresholds %s of %s: %w", sk, id, err)
				}
				d.Configs = append(d.Configs, c)
			case strings.HasPrefix(sk, table.SKRulePrefix):
				r, err := ruleFromItem(item, storedMetrics)
				if err != nil {
					return d, fmt.Errorf("reading rule %s of %s: %w", sk, id, err)
				}
				d.Rows = append(d.Rows, r)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return d, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// LoadStates reads the alarm states of many devices with BatchGetItem (batchGet).
func (s *Store) LoadStates(ctx context.Context, ids []string) (map[string]evaluator.State, error) {
	out := make(map[string]evaluator.State, len(ids))
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(id, SKState)
	}
	err := s.batchGet(ctx, keys, true, "alarm states", func(item map[string]types.AttributeValue) error {
		st, err := decodeState(item)
		if err != nil {
			return fmt.Errorf("reading alarm state of %s: %w", str(item[PK]), err)
		}
		out[str(item[PK])] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchGet reads items by key with BatchGetItem, table.MaxBatchGet keys a request, retrying
// unprocessed keys (s.Retry), and hands each item to each; what names them in errors.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, consistent bool, what string, each func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(keys); start += table.MaxBatchGet {
		end := min(start+table.MaxBatchGet, len(keys))
		_, err := awsclient.RetryRefused(ctx, s.Retry, "DynamoDB", s.table, keys[start:end], func(ctx context.Context, pending []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, string, error) {
			req := map[string]types.KeysAndAttributes{s.table: {Keys: pending, ConsistentRead: aws.Bool(consistent)}}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, "", err
			}
			for _, item := range res.Responses[s.table] {
				if err := each(item); err != nil {
					return nil, "", err
				}
			}
			return res.UnprocessedKeys[s.table].Keys, "", nil
		})
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
	}
	return nil
}

// SaveState writes st.Alarm if the stored version is still st.Version, and returns the new version.
func (s *Store) SaveState(ctx context.Context, id string, st evaluator.State) (int64, error) {
	item, err := attributevalue.MarshalMap(toItem(id, st, st.Version+1))
	if err != nil {
		return 0, fmt.Errorf("encoding alarm state of %s: %w", id, err)
	}
	for k, v := range key(id, SKState) {
		item[k] = v
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if st.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": PK}
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(st.Version, 10)}}
	}
	if _, err := s.client.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return 0, fmt.Errorf("writing alarm state of %s: %w", id, err)
		}
		// The SDK retries a write whose answer was lost; the retry then meets the write itself.
		// That is no conflict: the state stored is ours.
		if ours, rerr := s.storedIs(ctx, id, toItem(id, st, st.Version+1)); rerr == nil && ours {
			return st.Version + 1, nil
		}
		return 0, fmt.Errorf("writing alarm state of %s at version %d: %w", id, st.Version, evaluator.ErrConflict)
	}
	return st.Version + 1, nil
}

// DueShard is the due index's partition key of a device: its id's FNV-1a hash modulo
// table.DueShards.
func DueShard(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return strconv.Itoa(int(h.Sum32() % table.DueShards))
}

// DueDevices lists the devices whose silence or silence reminder is due by now, from the due
// index, with when each fell due, in device order: one Query a shard (more pages only for a shard
// with many due devices), so the cost grows with the devices that are due, not with the fleet.
func (s *Store) DueDevices(ctx context.Context, now time.Time) ([]evaluator.DueDevice, error) {
	var out []evaluator.DueDevice
	for shard := range table.DueShards {
		in := &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(table.DueIndex),
			KeyConditionExpression:    aws.String("#s = :s AND #d <= :now"),
			ExpressionAttributeNames:  map[string]string{"#s": table.DueShardAttr, "#d": table.DueAtAttr},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: strconv.Itoa(shard)}, ":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}},
		}
		for {
			res, err := s.client.Query(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("querying the due index, shard %d: %w", shard, err)
			}
			for _, item := range res.Items {
				d := evaluator.DueDevice{ID: str(item[PK])}
				if n, ok := item[table.DueAtAttr].(*types.AttributeValueMemberN); ok {
					ms, err := strconv.ParseInt(n.Value, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("the due index holds %s=%q for %s: %w", table.DueAtAttr, n.Value, d.ID, err)
					}
					d.At = time.UnixMilli(ms).UTC()
				}
				out = append(out, d)
			}
			if len(res.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// States reads the alarm state of every device (a Scan of the STATE items, for the operators'
// `iotwatch alerts open`; the functions never scan).
func (s *Store) States(ctx context.Context) (map[string]evaluator.State, error) {
	out := map[string]evaluator.State{}
	in := &dynamodb.ScanInput{
		TableName:                &s.table,
		FilterExpression:         aws.String("#sk = :state AND #pk <> :users"),
		ExpressionAttributeNames: map[string]string{"#sk": SK, "#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":state": &types.AttributeValueMemberS{Value: SKState},
			":users": &types.AttributeValueMemberS{Value: table.UsersPK}},
	}
	for {
		res, err := s.client.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scanning the alarm states: %w", err)
		}
		for _, item := range res.Items {
			st, err := decodeState(item)
			if err != nil {
				return nil, fmt.Errorf("reading the alarm state of %s: %w", str(item[PK]), err)
			}
			out[str(item[PK])] = st
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// storedIs reports whether the STATE item stored for id is exactly want.
func (s *Store) storedIs(ctx context.Context, id string, want stateItem) (bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(id, SKState), ConsistentRead: aws.Bool(true)})
	if err != nil || len(out.Item) == 0 {
		return false, err
	}
	var got stateItem
	if err := attributevalue.UnmarshalMap(out.Item, &got); err != nil {
		return false, err
	}
	a, err1 := json.Marshal(got)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(a, b), nil
}

// PutThresholds writes configs (validated whole by the caller) with BatchWriteItem. Each keeps
// its stored version when nothing changed, and gets the next one when something did (1 when
// new): it reads the devices' configs first, one Query a device.
func (s *Store) PutThresholds(ctx context.Context, configs []threshold.Config) error {
	stored := map[[2]string]threshold.Config{}
	read := map[string]bool{}
	for _, c := range configs {
		if read[c.DeviceID] {
			continue
		}
		read[c.DeviceID] = true
		prev, err := s.ListThresholds(ctx, c.DeviceID)
		if err != nil {
			return fmt.Errorf("reading the versions of %s: %w", c.DeviceID, err)
		}
		for _, p := range prev {
			stored[[2]string{p.UserID, p.DeviceID}] = p
		}
	}
	reqs := make([]types.WriteRequest, 0, len(configs))
	for _, c := range configs {
		prev, ok := stored[[2]string{c.UserID, c.DeviceID}]
		c.Version = threshold.NextVersion(c, prev, ok)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: configItem(c)}})
	}
	return s.batchWrite(ctx, reqs)
}

// PutDevices writes device metadata with BatchWriteItem.
func (s *Store) PutDevices(ctx context.Context, devs []device.Device) error {
	reqs := make([]types.WriteRequest, 0, len(devs))
	for _, d := range devs {
		item := key(d.ID, SKMeta)
		item["device_id"] = &types.AttributeValueMemberS{Value: d.ID}
		if d.Name != "" {
			item["name"] = &types.AttributeValueMemberS{Value: d.Name}
		}
		if d.Location != "" {
			item["location"] = &types.AttributeValueMemberS{Value: d.Location}
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, reqs)
}

// ListThresholds returns every user's thresholds for a device (one Query of its partition).
func (s *Store) ListThresholds(ctx context.Context, deviceID string) ([]threshold.Config, error) {
	d, err := s.loadPartition(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	return d.Configs, nil
}

// DeleteThresholds removes one user's thresholds for a device; deleting what is not there is an error.
func (s *Store) DeleteThresholds(ctx context.Context, userID, deviceID string) error {
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    &s.table,
		Key:          key(deviceID, SKThresholdPref+userID),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return fmt.Errorf("deleting thresholds of %s for %s: %w", userID, deviceID, err)
	}
	if len(out.Attributes) == 0 {
		return fmt.Errorf("user %q has no thresholds for device %q", userID, deviceID)
	}
	return nil
}

func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for start := 0; start < len(reqs); start += table.MaxBatchWrite {
		end := min(start+table.MaxBatchWrite, len(reqs))
		_, err := awsclient.RetryRefused(ctx, s.Retry, "DynamoDB", s.table, reqs[start:end], func(ctx context.Context, pending []types.WriteRequest) ([]types.WriteRequest, string, error) {
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: pending}})
			if err != nil {
				return nil, "", err
			}
			return out.UnprocessedItems[s.table], "", nil
		})
		if err != nil {
			return fmt.Errorf("writing items %d-%d: %w", start+1, end, err)
		}
	}
	return nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PK: &types.AttributeValueMemberS{Value: pk}, SK: &types.AttributeValueMemberS{Value: sk}}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// configItem is a THRESHOLD item: every set threshold and every duration as a number
// attribute named as its CSV column, and the version.
func configItem(c threshold.Config) map[string]types.AttributeValue {
	item := key(c.DeviceID, SKThresholdPref+c.UserID)
	item["user_id"] = &types.AttributeValueMemberS{Value: c.UserID}
	item["device_id"] = &types.AttributeValueMemberS{Value: c.DeviceID}
	for _, f := range threshold.NumberFields() {
		if v := c.Number(f); v.Set {
			item[f] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(v.V, 'g', -1, 64)}
		}
	}
	for _, f := range threshold.SecondsFields() {
		if n := *c.Seconds(f); n != 0 || f == "sustain_seconds" {
			item[f] = &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
		}
	}
	item["version"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)}
	return item
}

func configFromItem(item map[string]types.AttributeValue) (threshold.Config, error) {
	c := threshold.Config{UserID: str(item["user_id"]), DeviceID: str(item["device_id"])}
	var errs []error
	for _, f := range threshold.NumberFields() {
		errs = append(errs, numberAttr(item, f, c.Number(f)))
	}
	for _, f := range threshold.SecondsFields() {
		errs = append(errs, wholeAttr(item, f, c.Seconds(f)))
	}
	errs = append(errs, wholeAttr(item, "version", &c.Version))
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// numberAttr reads the number attribute name of item into v; absent, v stays unset.
func numberAttr(item map[string]types.AttributeValue, name string, v *threshold.Value) error {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsInf(f, 0) {
		return fmt.Errorf("%s: %q is not a number", name, n.Value)
	}
	*v = threshold.Of(f)
	return nil
}

// wholeAttr reads the whole-number attribute name of item into v; absent, v stays as it is.
func wholeAttr(item map[string]types.AttributeValue, name string, v *int64) error {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return nil
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a whole number", name, n.Value)
	}
	*v = i
	return nil
}
