package linkslambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

type capture struct{ ns []evaluator.Notice }

func (p *capture) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.ns = append(p.ns, ns...)
	return make([]error, len(ns))
}

type noQuarantine struct{}

func (noQuarantine) Put(context.Context, string, []lake.Rejected) error { return nil }

// TestFunctionURLThroughLambda: the sample function URL event, through the Lambda runtime's JSON
// boundary, reaches the links' handler over the DynamoDB table (on minidyn): a GET with a link
// the evaluation signed shows the confirmation, a POST acknowledges, and an unknown code is
// refused without a request to the table.
func TestFunctionURLThroughLambda(t *testing.T) {
	ctx := context.Background()
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	calls := &awsclient.Counter{}
	store := dynamostore.New(awstest.DynamoDBClient(url, awstest.WithAPIOptions(calls.Add)), "iotwatch")
	require.NoError(t, store.PutThresholds(ctx, []threshold.Config{{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24)}}))
	secret := []byte(strings.Repeat("k", 64))
	signer, err := links.NewSigner(secret, "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/")
	require.NoError(t, err)
	pub := &capture{}
	at := time.Now().UTC().Truncate(time.Minute)
	data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":25}`, at.Format(time.RFC3339))
	_, err = evaluator.New(store, pub, noQuarantine{}, evaluator.Config{Linker: signer}, nil, nil).Evaluate(ctx, []evaluator.Message{{ID: "1", Data: []byte(data), TopicDevice: "room-1"}})
	require.NoError(t, err)
	require.Len(t, pub.ns, 1)
	path := strings.TrimPrefix(pub.ns[0].AckLink, "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws")

	checker, err := links.NewSigner(secret, "") // the links function only checks
	require.NoError(t, err)
	h := lambda.NewHandler(linkslambda.NewHandler(links.NewHandler(checker, store, links.Published{Publisher: pub}, time.Now, nil)).Handle)
	sample, err := os.ReadFile("../../../events/links-get.json")
	require.NoError(t, err)
	invoke := func(method, path string) events.LambdaFunctionURLResponse {
		var ev events.LambdaFunctionURLRequest
		require.NoError(t, json.Unmarshal(sample, &ev))
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
		payload, err := json.Marshal(ev)
		require.NoError(t, err)
		out, err := h.Invoke(ctx, payload)
		require.NoError(t, err)
		var res events.LambdaFunctionURLResponse
		require.NoError(t, json.Unmarshal(out, &res))
		return res
	}
	res := invoke("GET", "/%zz")
	assert.Equal(t, 400, res.StatusCode, "a path no URL parser takes is refused, without a panic")
	calls.Take()
	res = invoke("POST", ev0(t, sample))
	assert.Equal(t, 410, res.StatusCode, "the sample's code is no link of this deployment")
	forged := path[:len(path)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(path, "a")]
	res = invoke("POST", forged)
	assert.Equal(t, 410, res.StatusCode, "an altered code")
	assert.Empty(t, calls.Take(), "forged links cost no request to the table")
	res = invoke("GET", path)
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Body, "Confirm")
	assert.Equal(t, "text/html; charset=utf-8", res.Headers["Content-Type"])
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, calls.Take(), "a valid link reads its device once")
	res = invoke("POST", path)
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Body, "Acknowledged")
	d, err := store.LoadDevice(ctx, "room-1")
	require.NoError(t, err)
	eps := d.State.Alarm.Episodes()
	require.Len(t, eps, 1)
	assert.True(t, eps[0].Acked, "acknowledged in the table")
	assert.Equal(t, links.KindAck, pub.ns[len(pub.ns)-1].Alert.Kind, "the action published as a row for the lake")
}

func ev0(t *testing.T, sample []byte) string {
	var ev events.LambdaFunctionURLRequest
	require.NoError(t, json.Unmarshal(sample, &ev))
	return ev.RawPath
}
