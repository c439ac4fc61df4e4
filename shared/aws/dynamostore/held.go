package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// The alerts held for a user's digest live in a partition of the user's own:
//
//	pk=#HELD#<user_id>  sk=A#<alert_id>  alert (its JSON)
//	pk=#HELD#<user_id>  sk=DIGEST        due_shard, due_at: in the due index, so that the silence
//	                                     check finds the digest due like a device
const (
	skHeldPrefix = "A#"
	skDigest     = "DIGEST"
)

var _ evaluator.Held = (*Store)(nil)

// Hold implements evaluator.Held: the alerts and each user's digest marker, in BatchWriteItem.
func (s *Store) Hold(ctx context.Context, alerts []alert.Alert, due map[string]time.Time) error {
	seen := map[string]bool{}
	var reqs []types.WriteRequest
	for _, a := range alerts {
		pk := evaluator.HeldPrefix + a.UserID
		if seen[pk+a.AlertID] {
			continue
		}
		seen[pk+a.AlertID] = true
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("encoding held alert %s: %w", a.AlertID, err)
		}
		item := key(pk, skHeldPrefix+a.AlertID)
		item["alert"] = &types.AttributeValueMemberS{Value: string(b)}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return err
	}
	for user, at := range due {
		if err := s.markDigest(ctx, user, at, true); err != nil {
			return err
		}
	}
	return nil
}

// markDigest puts the user's digest marker in the due index at at: only if none is due earlier
// when earliest (a conditional PutItem), else whatever was there.
func (s *Store) markDigest(ctx context.Context, user string, at time.Time, earliest bool) error {
	pk := evaluator.HeldPrefix + user
	item := key(pk, skDigest)
	item[table.DueShardAttr] = &types.AttributeValueMemberS{Value: DueShard(pk)}
	item[table.DueAtAttr] = &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixMilli(), 10)}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if earliest {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR #due > :due")
		in.ExpressionAttributeNames = map[string]string{"#pk": PK, "#due": table.DueAtAttr}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":due": item[table.DueAtAttr]}
	}
	_, err := s.client.PutItem(ctx, in)
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return nil // a digest is due earlier already
	}
	if err != nil {
		return fmt.Errorf("making the digest of %s due: %w", user, err)
	}
	return nil
}

// Held implements evaluator.Held: one strongly consistent Query of the user's partition.
func (s *Store) Held(ctx context.Context, user string) ([]alert.Alert, error) {
	var out []alert.Alert
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :a)"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK, "#sk": SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: evaluator.HeldPrefix + user}, ":a": &types.AttributeValueMemberS{Value: skHeldPrefix}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		res, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("reading the alerts held for %s: %w", user, err)
		}
		for _, item := range res.Items {
			var a alert.Alert
			if err := json.Unmarshal([]byte(str(item["alert"])), &a); err != nil {
				return nil, fmt.Errorf("reading held alert %s: %w", strings.TrimPrefix(str(item[SK]), skHeldPrefix), err)
			}
			out = append(out, a)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// Release implements evaluator.Held: deletes the released alerts, then moves the digest marker
// to next or deletes it.
func (s *Store) Release(ctx context.Context, user string, ids []string, next time.Time) error {
	pk := evaluator.HeldPrefix + user
	reqs := make([]types.WriteRequest, 0, len(ids))
	for _, id := range ids {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(pk, skHeldPrefix+id)}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return err
	}
	if !next.IsZero() {
		return s.markDigest(ctx, user, next, false)
	}
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(pk, skDigest)}); err != nil {
		return fmt.Errorf("removing the digest of %s: %w", user, err)
	}
	// An alert held between the caller's read and this delete would wait without a marker: look
	// again, and make what is left due at once (the next check puts the marker where it belongs).
	left, err := s.Held(ctx, user)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return s.markDigest(ctx, user, time.UnixMilli(0), false)
	}
	return nil
}
