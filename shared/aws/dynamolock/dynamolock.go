// Package dynamolock is a lease in the pipeline's DynamoDB table: one holder at a time, taken
// with a conditional PutItem and given back with a conditional DeleteItem; a holder that dies
// leaves a lease that ends by itself. The aggregate function holds one while it writes, so that a
// backfill and the schedule, or a retry and the run it retries, never write the same hour at once
// (reserved concurrency would do it too, but a new account's concurrency quota of 10 refuses any
// reservation, and the deploy fails).
package dynamolock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
)

// Client is the part of the DynamoDB API used.
type Client interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// PK is the partition key of the leases (the IAM policy of a holder allows this key only).
const PK = table.LockPK

// Lock is one named lease.
type Lock struct {
	client Client
	table  string
	name   string
	// Lease is how long a holder keeps it at most (a dead holder's lease ends then): at least the
	// holder's own time limit.
	Lease time.Duration
	// Poll is the wait between tries while another holds it.
	Poll time.Duration
	Now  func() time.Time
}

// New returns the lease name in table.
func New(client Client, tableName, name string, lease time.Duration) *Lock {
	return &Lock{client: client, table: tableName, name: name, Lease: lease, Poll: 5 * time.Second, Now: time.Now}
}

// ErrHeld is returned when the context ends while another holder keeps the lease.
var ErrHeld = errors.New("another holder keeps the lease")

// Acquire waits until the lease is free (or its holder's lease has ended), takes it for owner,
// and returns the function that gives it back. The holder is owner and a random suffix: a
// Lambda retry keeps its request id, and must not pass for the invocation it retries.
func (l *Lock) Acquire(ctx context.Context, owner string) (release func(context.Context) error, err error) {
	key := map[string]types.AttributeValue{table.PK: &types.AttributeValueMemberS{Value: PK}, table.SK: &types.AttributeValueMemberS{Value: l.name}}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	owner += "/" + hex.EncodeToString(nonce[:])
	for {
		now := l.Now()
		item := map[string]types.AttributeValue{
			table.PK: key[table.PK], table.SK: key[table.SK],
			"owner": &types.AttributeValueMemberS{Value: owner},
			"until": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(l.Lease).Unix(), 10)},
		}
		_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &l.table,
			Item:      item,
			// or already ours: the SDK retries a PutItem whose answer was lost, and the first try
			// may have taken it
			ConditionExpression:      aws.String("attribute_not_exists(#pk) OR #until < :now OR #owner = :me"),
			ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#until": "until", "#owner": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
				":me": &types.AttributeValueMemberS{Value: owner}},
		})
		if err == nil {
			return func(ctx context.Context) error { return l.release(ctx, key, owner) }, nil
		}
		var held *types.ConditionalCheckFailedException
		if ctx.Err() != nil {
			// the try may have taken it before the context ended: give it back, if so
			_ = l.release(context.WithoutCancel(ctx), key, owner)
			return nil, fmt.Errorf("lease %s: %w (%w)", l.name, ErrHeld, ctx.Err())
		}
		if !errors.As(err, &held) {
			return nil, fmt.Errorf("taking the lease %s: %w", l.name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lease %s: %w (%w)", l.name, ErrHeld, ctx.Err())
		case <-time.After(l.Poll):
		}
	}
}

// release deletes the lease if owner still holds it.
func (l *Lock) release(ctx context.Context, key map[string]types.AttributeValue, owner string) error {
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &l.table,
		Key:                       key,
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: owner}},
	})
	var gone *types.ConditionalCheckFailedException
	if errors.As(err, &gone) {
		return nil // its lease had ended and another took it: nothing of ours to give back
	}
	if err != nil {
		return fmt.Errorf("giving back the lease %s: %w", l.name, err)
	}
	return nil
}
