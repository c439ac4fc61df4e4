package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
)

// Opener decrypts what a Sealer sealed, given the same context; a value sealed under another
// context does not open. The notify function has one (kms:Decrypt on the channels key).
type Opener interface {
	Open(ctx context.Context, sealed []byte, encContext map[string]string) ([]byte, error)
}

// Sealer encrypts a channel's target and secret before they are stored, bound to an encryption
// context (on AWS: shared/aws/kmsseal, KMS Encrypt and Decrypt with the stack's channels key; in
// tests: shared/testsupport/sealtest's AES-GCM).
type Sealer interface {
	Opener
	Seal(ctx context.Context, plaintext []byte, encContext map[string]string) ([]byte, error)
}

// ListedChannel is a stored channel as a listing shows it, read without decrypting: its target
// redacted, its secret only said to be there.
type ListedChannel struct {
	ID          string
	UserID      string
	Kind        channel.Kind
	MinSeverity alert.Severity
	Redacted    string
	HasSecret   bool
}

// sealedChannel is the plaintext a channel item seals.
type sealedChannel struct {
	Target string `json:"target"`
	Secret string `json:"secret,omitempty"`
}

func channelsPK(user string) string { return table.ChannelsPKPrefix + user }

// channelContext is the encryption context of a channel's sealed value: its user and id, so that
// a sealed value copied into another item does not open there.
func channelContext(user, id string) map[string]string {
	return map[string]string{"user_id": user, "channel_id": id}
}

// PutChannels seals and writes channels (validated whole by the caller), each over the stored
// channel of the same (user, kind, target). Every channel is sealed before anything is written:
// a sealing error writes nothing.
func (s *Store) PutChannels(ctx context.Context, sealer Sealer, chans []channel.Channel) error {
	reqs := make([]types.WriteRequest, 0, len(chans))
	for i := range chans {
		c := &chans[i]
		if field, err := c.Validate(); err != nil {
			return fmt.Errorf("channel %d (%s): %s: %w, nothing written", i+1, c, field, err)
		}
		plain, err := json.Marshal(sealedChannel{Target: c.Target, Secret: c.Secret})
		if err != nil {
			return err
		}
		id := c.ID()
		sealed, err := sealer.Seal(ctx, plain, channelContext(c.UserID, id))
		if err != nil {
			return fmt.Errorf("sealing channel %s, nothing written: %w", c, err)
		}
		item := key(channelsPK(c.UserID), table.SKChannelPrefix+id)
		item["user_id"] = &types.AttributeValueMemberS{Value: c.UserID}
		item["channel"] = &types.AttributeValueMemberS{Value: string(c.Kind)}
		item["min_severity"] = &types.AttributeValueMemberS{Value: string(c.MinSeverity)}
		item["redacted"] = &types.AttributeValueMemberS{Value: c.Redacted()}
		item["has_secret"] = &types.AttributeValueMemberBOOL{Value: c.Secret != ""}
		item["sealed"] = &types.AttributeValueMemberB{Value: sealed}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, reqs)
}

// channelItems returns the items of user's channels partition (one Query, paged).
func (s *Store) channelItems(ctx context.Context, user string, attrs ...string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: channelsPK(user)}},
	}
	if len(attrs) > 0 {
		proj := make([]string, len(attrs))
		for i, a := range attrs {
			in.ExpressionAttributeNames["#a"+fmt.Sprint(i)] = a
			proj[i] = "#a" + fmt.Sprint(i)
		}
		in.ProjectionExpression = aws.String(strings.Join(proj, ", "))
	}
	for {
		res, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("reading the channels of user %s: %w", user, err)
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// ListChannels returns user's channels as listings show them, by kind and redacted target, without
// decrypting anything (the sealed values are not even read).
func (s *Store) ListChannels(ctx context.Context, user string) ([]ListedChannel, error) {
	items, err := s.channelItems(ctx, user, SK, "user_id", "channel", "min_severity", "redacted", "has_secret")
	if err != nil {
		return nil, err
	}
	out := make([]ListedChannel, 0, len(items))
	for _, it := range items {
		secret, _ := it["has_secret"].(*types.AttributeValueMemberBOOL)
		out = append(out, ListedChannel{
			ID:          strings.TrimPrefix(str(it[SK]), table.SKChannelPrefix),
			UserID:      str(it["user_id"]),
			Kind:        channel.Kind(str(it["channel"])),
			MinSeverity: alert.Severity(str(it["min_severity"])),
			Redacted:    str(it["redacted"]),
			HasSecret:   secret != nil && secret.Value,
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Redacted < out[j].Redacted
	})
	return out, nil
}

// LoadChannels returns user's channels with their targets and secrets, each opened under its own
// encryption context and validated again; an item that does not open, does not validate or is
// not the channel its key names is an error naming the item (never its target).
func (s *Store) LoadChannels(ctx context.Context, opener Opener, user string) ([]channel.Channel, error) {
	items, err := s.channelItems(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]channel.Channel, 0, len(items))
	for _, it := range items {
		id := strings.TrimPrefix(str(it[SK]), table.SKChannelPrefix)
		b, _ := it["sealed"].(*types.AttributeValueMemberB)
		if b == nil {
			return nil, fmt.Errorf("channel %s of user %s has no sealed value", id, user)
		}
		plain, err := opener.Open(ctx, b.Value, channelContext(user, id))
		if err != nil {
			return nil, fmt.Errorf("opening channel %s of user %s: %w", id, user, err)
		}
		var sc sealedChannel
		if err := json.Unmarshal(plain, &sc); err != nil {
			return nil, fmt.Errorf("channel %s of user %s: its sealed value is not a channel's", id, user)
		}
		c := channel.Channel{UserID: user, Kind: channel.Kind(str(it["channel"])), Target: sc.Target,
			MinSeverity: alert.Severity(str(it["min_severity"])), Secret: sc.Secret}
		if field, err := c.Validate(); err != nil {
			return nil, fmt.Errorf("channel %s of user %s: %s: %w", id, user, field, err)
		}
		if c.ID() != id {
			return nil, fmt.Errorf("channel %s of user %s holds another channel (%s)", id, user, c.ID())
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteChannels removes user's channels of the given ids (ListedChannel.ID, channel.Channel.ID);
// if any of them is not stored, nothing is deleted.
func (s *Store) DeleteChannels(ctx context.Context, user string, ids []string) error {
	held, err := s.ListChannels(ctx, user)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(held))
	for _, c := range held {
		have[c.ID] = true
	}
	var missing []string
	reqs := make([]types.WriteRequest, 0, len(ids))
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
			continue
		}
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(channelsPK(user), table.SKChannelPrefix+id)}})
	}
	if len(missing) > 0 {
		return errors.New("user " + user + " has no channel " + strings.Join(missing, ", ") + ", nothing deleted")
	}
	return s.batchWrite(ctx, reqs)
}
