// Package dynamostore keeps thresholds, device metadata and alarm state in one DynamoDB table.
//
// Table design (on-demand, partition key pk, sort key sk, both strings), one partition per device,
// so that a single Query reads everything the evaluate function needs of a device:
//
//	pk=<device_id>  sk=META                name, location
//	pk=<device_id>  sk=THRESHOLD#<user_id> user_id, device_id, temp_warning, ..., sustain_seconds
//	pk=<device_id>  sk=STATE               last, has_last, recent, rules, version
//
// State writes are conditional on the version that was read (optimistic locking).
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Key attribute names and sort keys.
const (
	PK              = "pk"
	SK              = "sk"
	SKMeta          = "META"
	SKState         = "STATE"
	SKThresholdPref = "THRESHOLD#"
)

// Client is the part of the DynamoDB API the store uses.
type Client interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store is the DynamoDB store.
type Store struct {
	client Client
	table  string
	// MaxAttempts bounds the rounds spent on unprocessed items of batch calls.
	MaxAttempts int
	// Backoff is the first pause between such rounds (doubled each round).
	Backoff time.Duration
}

var _ evaluator.Store = (*Store)(nil)

// New returns a store over table.
func New(client Client, table string) *Store {
	return &Store{client: client, table: table, MaxAttempts: 8, Backoff: 50 * time.Millisecond}
}

// LoadDevice reads a device's metadata, every user's thresholds and its alarm state with one
// strongly consistent Query (more pages only for a device with thousands of users).
func (s *Store) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
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
				if err := attributevalue.UnmarshalMap(item, &d.State); err != nil {
					return d, fmt.Errorf("reading alarm state of %s: %w", id, err)
				}
			case strings.HasPrefix(sk, SKThresholdPref):
				c, err := configFromItem(item)
				if err != nil {
					return d, fmt.Errorf("reading thresholds %s of %s: %w", sk, id, err)
				}
				d.Configs = append(d.Configs, c)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return d, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// LoadStates reads the alarm states of many devices with BatchGetItem, 100 keys a request,
// retrying unprocessed keys with backoff.
func (s *Store) LoadStates(ctx context.Context, ids []string) (map[string]alarm.DeviceState, error) {
	out := make(map[string]alarm.DeviceState, len(ids))
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		keys := make([]map[string]types.AttributeValue, 0, end-start)
		for _, id := range ids[start:end] {
			keys = append(keys, key(id, SKState))
		}
		req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt >= s.MaxAttempts {
				return nil, fmt.Errorf("reading alarm states: %d keys still unprocessed after %d attempts", len(req[s.table].Keys), attempt)
			}
			if attempt > 0 {
				if err := sleep(ctx, s.Backoff<<(attempt-1)); err != nil {
					return nil, err
				}
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("reading alarm states: %w", err)
			}
			for _, item := range res.Responses[s.table] {
				var st alarm.DeviceState
				if err := attributevalue.UnmarshalMap(item, &st); err != nil {
					return nil, fmt.Errorf("reading alarm state of %s: %w", str(item[PK]), err)
				}
				out[str(item[PK])] = st
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// SaveState writes st if the stored version is still st.Version, then increments st.Version.
func (s *Store) SaveState(ctx context.Context, id string, st *alarm.DeviceState) error {
	next := *st
	next.Version = st.Version + 1
	if len(next.Rules) == 0 {
		next.Rules = nil // an idle device: write no empty map
	}
	item, err := attributevalue.MarshalMap(next)
	if err != nil {
		return fmt.Errorf("encoding alarm state of %s: %w", id, err)
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
		if errors.As(err, &ccf) {
			return fmt.Errorf("writing alarm state of %s at version %d: %w", id, st.Version, evaluator.ErrConflict)
		}
		return fmt.Errorf("writing alarm state of %s: %w", id, err)
	}
	st.Version = next.Version
	return nil
}

// PutThresholds writes configs (validated whole by the caller) with BatchWriteItem.
func (s *Store) PutThresholds(ctx context.Context, configs []threshold.Config) error {
	reqs := make([]types.WriteRequest, 0, len(configs))
	for _, c := range configs {
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

// ListThresholds returns every user's thresholds for a device.
func (s *Store) ListThresholds(ctx context.Context, deviceID string) ([]threshold.Config, error) {
	d, err := s.LoadDevice(ctx, deviceID)
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
	for start := 0; start < len(reqs); start += 25 {
		pending := map[string][]types.WriteRequest{s.table: reqs[start:min(start+25, len(reqs))]}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt >= s.MaxAttempts {
				return fmt.Errorf("writing items %d-%d: %d still unprocessed after %d attempts", start+1, min(start+25, len(reqs)), len(pending[s.table]), attempt)
			}
			if attempt > 0 {
				if err := sleep(ctx, s.Backoff<<(attempt-1)); err != nil {
					return err
				}
			}
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("writing items %d-%d: %w", start+1, min(start+25, len(reqs)), err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

var numberFields = []string{"temp_warning", "temp_violation", "temp_low_warning", "temp_low_violation", "light_no_occupancy"}

func configValues(c *threshold.Config) []*threshold.Value {
	return []*threshold.Value{&c.TempWarning, &c.TempViolation, &c.TempLowWarning, &c.TempLowViolation, &c.LightNoOccupancy}
}

func configItem(c threshold.Config) map[string]types.AttributeValue {
	item := key(c.DeviceID, SKThresholdPref+c.UserID)
	item["user_id"] = &types.AttributeValueMemberS{Value: c.UserID}
	item["device_id"] = &types.AttributeValueMemberS{Value: c.DeviceID}
	for i, v := range configValues(&c) {
		if v.Set {
			item[numberFields[i]] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(v.V, 'g', -1, 64)}
		}
	}
	item["sustain_seconds"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.SustainSeconds, 10)}
	return item
}

func configFromItem(item map[string]types.AttributeValue) (threshold.Config, error) {
	c := threshold.Config{UserID: str(item["user_id"]), DeviceID: str(item["device_id"])}
	for i, v := range configValues(&c) {
		n, ok := item[numberFields[i]].(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(f, 0) {
			return c, fmt.Errorf("%s: %q is not a number", numberFields[i], n.Value)
		}
		*v = threshold.Of(f)
	}
	if n, ok := item["sustain_seconds"].(*types.AttributeValueMemberN); ok {
		v, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return c, fmt.Errorf("sustain_seconds: %q is not a whole number", n.Value)
		}
		c.SustainSeconds = v
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
