package dynamostore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/sealtest"
)

const channelsCSV = `user_id,channel,target,min_severity,secret
alice,slack,https://hooks.slack.com/services/T000/B000/XXXXsecretpath,,
alice,webhook,https://example.com/hook/abc,VIOLATION,0123456789abcdef0123
alice,pagerduty,3fcc9112463424b599f996f9e780dfc6,,
bob,email,bob@example.com,,
`

// TestChannels: channels sealed on put (no target nor secret in clear in any item), listed
// redacted without decrypting, loaded back whole by the user's Query, replaced by a put of the
// same channel, deleted all or nothing; a sealed value copied into another item does not open.
func TestChannels(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	s := dynamostore.New(client, "iotwatch")
	sealer := sealtest.New()
	chans, err := channel.ParseCSV(strings.NewReader(channelsCSV), "channels.csv")
	require.NoError(t, err)
	require.NoError(t, s.PutChannels(ctx, sealer, chans))
	assert.Equal(t, 4, sealer.Sealed)

	scan, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("iotwatch")})
	require.NoError(t, err)
	require.Len(t, scan.Items, 4)
	for _, it := range scan.Items {
		for name, v := range it {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				for _, secret := range []string{"XXXXsecretpath", "0123456789abcdef", "3fcc9112463424b599f996f9e780dfc6", "/hook/abc"} {
					assert.NotContains(t, sv.Value, secret, "attribute %s holds a target or secret in clear", name)
				}
			}
		}
	}

	listed, err := s.ListChannels(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, 0, sealer.Opened, "listing decrypts nothing")
	assert.Equal(t, []dynamostore.ListedChannel{
		{ID: chans[2].ID(), UserID: "alice", Kind: channel.PagerDuty, MinSeverity: alert.Warning, Redacted: "***dfc6"},
		{ID: chans[0].ID(), UserID: "alice", Kind: channel.Slack, MinSeverity: alert.Warning, Redacted: "https://hooks.slack.com/***"},
		{ID: chans[1].ID(), UserID: "alice", Kind: channel.Webhook, MinSeverity: alert.Violation, Redacted: "https://example.com/***", HasSecret: true},
	}, listed)

	loaded, err := s.LoadChannels(ctx, sealer, "alice")
	require.NoError(t, err)
	assert.ElementsMatch(t, chans[:3], loaded)
	none, err := s.LoadChannels(ctx, sealer, "carol")
	require.NoError(t, err)
	assert.Empty(t, none)

	// The same channel put again replaces it.
	again := chans[1]
	again.MinSeverity = alert.Warning
	require.NoError(t, s.PutChannels(ctx, sealer, []channel.Channel{again}))
	loaded, err = s.LoadChannels(ctx, sealer, "alice")
	require.NoError(t, err)
	require.Len(t, loaded, 3)
	assert.Contains(t, loaded, again)

	// A sealed value moved to another channel's item does not open there.
	pk := &types.AttributeValueMemberS{Value: table.ChannelsPKPrefix + "alice"}
	got, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("iotwatch"), Key: map[string]types.AttributeValue{
		table.PK: pk, table.SK: &types.AttributeValueMemberS{Value: table.SKChannelPrefix + chans[0].ID()}}})
	require.NoError(t, err)
	_, err = client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("iotwatch"), Key: map[string]types.AttributeValue{
		table.PK: pk, table.SK: &types.AttributeValueMemberS{Value: table.SKChannelPrefix + chans[2].ID()}},
		UpdateExpression:          aws.String("SET sealed = :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": got.Item["sealed"]}})
	require.NoError(t, err)
	_, err = s.LoadChannels(ctx, sealer, "alice")
	assert.ErrorContains(t, err, "opening channel "+chans[2].ID()+" of user alice")

	err = s.DeleteChannels(ctx, "alice", []string{chans[0].ID(), "0000000000000000"})
	assert.ErrorContains(t, err, "no channel 0000000000000000, nothing deleted")
	listed, err = s.ListChannels(ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, listed, 3)
	require.NoError(t, s.DeleteChannels(ctx, "alice", []string{chans[0].ID(), chans[2].ID()}))
	listed, err = s.ListChannels(ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, listed, 1)
}

// TestPutChannelsRefusesAll: a channel that does not validate writes nothing.
func TestPutChannelsRefusesAll(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	good := channel.Channel{UserID: "alice", Kind: channel.Slack, Target: "https://hooks.slack.com/x"}
	bad := channel.Channel{UserID: "alice", Kind: channel.Webhook, Target: "https://example.com/h"}
	err := s.PutChannels(ctx, sealtest.New(), []channel.Channel{good, bad})
	assert.ErrorContains(t, err, "channel 2")
	assert.ErrorContains(t, err, "secret")
	listed, err := s.ListChannels(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, listed)
}
