package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/firehosebronze"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// runtimeAPI is a fake of the Lambda Runtime API (version 2018-06-01, the documented HTTP
// protocol): the first invocation/next hands over one event, later ones wait; the function's
// response, invocation error or init error is kept.
type runtimeAPI struct {
	event []byte

	mu     sync.Mutex
	served bool
	done   chan struct{}
	kind   string // "response", "error" or "init error"
	body   []byte
	header http.Header
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	const base = "/2018-06-01/runtime/"
	path := strings.TrimPrefix(req.URL.Path, base)
	finish := func(kind string) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.kind == "" {
			r.kind, r.body, r.header = kind, body, req.Header.Clone()
			close(r.done)
		}
		w.WriteHeader(http.StatusAccepted)
	}
	switch {
	case req.Method == http.MethodGet && path == "invocation/next":
		r.mu.Lock()
		served := r.served
		r.served = true
		r.mu.Unlock()
		if served { // one invocation: the next waits, as a frozen environment would
			<-req.Context().Done()
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(15*time.Minute).UnixMilli())) // the functions' 900 s
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:iotwatch")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
		w.Write(r.event)
	case req.Method == http.MethodPost && path == "invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response":
		finish("response")
	case req.Method == http.MethodPost && path == "invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/error":
		finish("error")
	case req.Method == http.MethodPost && path == "init/error":
		finish("init error")
	default:
		http.Error(w, "no such resource "+req.Method+" "+req.URL.Path, http.StatusNotFound)
	}
}

// awsJSON is a fake of the JSON 1.1 services the functions call beyond the emulators (Secrets
// Manager's GetSecretValue, Athena's query calls, which all succeed), keeping what was asked.
type awsJSON struct {
	mu      sync.Mutex
	queries []string
}

const linksSecret = "a-links-secret-of-at-least-thirty-two-bytes-0123456789"

func (f *awsJSON) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Header.Get("X-Amz-Target") {
	case "secretsmanager.GetSecretValue":
		reply(map[string]any{"ARN": in["SecretId"], "Name": "links", "SecretString": linksSecret})
	case "TrentService.Decrypt":
		// A KMS fake for the notify function: the "ciphertext" is fakeKMS's JSON, opened only
		// under the encryption context and key it was sealed with.
		blob, _ := base64.StdEncoding.DecodeString(fmt.Sprint(in["CiphertextBlob"]))
		var sealed fakeSealed
		ctxJSON, _ := json.Marshal(in["EncryptionContext"])
		var encCtx map[string]string
		json.Unmarshal(ctxJSON, &encCtx)
		if json.Unmarshal(blob, &sealed) != nil || !maps.Equal(sealed.Context, encCtx) || sealed.KeyID != in["KeyId"] {
			w.WriteHeader(400)
			reply(map[string]string{"__type": "InvalidCiphertextException", "message": "not sealed under this context and key"})
			return
		}
		reply(map[string]any{"KeyId": sealed.KeyID, "Plaintext": sealed.Plain, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	case "AmazonAthena.StartQueryExecution":
		f.queries = append(f.queries, in["QueryString"].(string))
		reply(map[string]any{"QueryExecutionId": fmt.Sprintf("q-%d", len(f.queries))})
	case "AmazonAthena.GetQueryExecution":
		reply(map[string]any{"QueryExecution": map[string]any{"QueryExecutionId": in["QueryExecutionId"], "Status": map[string]any{"State": "SUCCEEDED"},
			"Statistics": map[string]any{"DataScannedInBytes": 1000}}})
	case "AmazonAthena.ListQueryExecutions":
		reply(map[string]any{"QueryExecutionIds": []string{}})
	default:
		w.WriteHeader(400)
		reply(map[string]string{"__type": "InvalidRequestException", "message": "unexpected " + r.Header.Get("X-Amz-Target")})
	}
}

// fakeSealed is what fakeKMS seals: the plaintext, the context and the key, in clear (a fake).
type fakeSealed struct {
	Plain   []byte            `json:"plain"`
	Context map[string]string `json:"context"`
	KeyID   string            `json:"key_id"`
}

// fakeKMS seals channels as awsJSON's KMS Decrypt opens them.
type fakeKMS struct{ keyID string }

func (k fakeKMS) Seal(_ context.Context, plain []byte, encCtx map[string]string) ([]byte, error) {
	return json.Marshal(fakeSealed{Plain: plain, Context: encCtx, KeyID: k.keyID})
}

func (k fakeKMS) Open(context.Context, []byte, map[string]string) ([]byte, error) {
	return nil, fmt.Errorf("the function opens, through the KMS fake")
}

// functionEnv is the environment the synthesized template gives a function (its description
// names it), with each reference resolved to the emulators' resources by the logical id's
// prefix. A reference the test does not know fails it: a new variable needs a look here.
func functionEnv(t *testing.T, description string, refs map[string]string) map[string]string {
	t.Helper()
	for _, fn := range resources("AWS::Lambda::Function") {
		if !strings.HasPrefix(fmt.Sprint(fn["Description"]), description) {
			continue
		}
		env := map[string]string{}
		vars, _ := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		for k, v := range vars {
			var id, attr string
			switch v := v.(type) {
			case string:
				env[k] = v
				continue
			case map[string]any:
				if ref, ok := v["Ref"].(string); ok {
					id = ref
				} else if att, ok := v["Fn::GetAtt"].([]any); ok {
					id, attr = att[0].(string), att[1].(string)
				}
			}
			resolved := false
			for key, value := range refs {
				prefix, wantAttr, _ := strings.Cut(key, "#")
				if strings.HasPrefix(id, prefix) && attr == wantAttr {
					env[k], resolved = value, true
				}
			}
			if !resolved {
				t.Fatalf("%s: %s=%v refers to %q, which this test does not know", description, k, v, id)
			}
		}
		return env
	}
	t.Fatalf("no function described %q in the template", description)
	return nil
}

// invoke starts the function's bootstrap as Lambda does, with exactly env and the runtime
// API's address, hands it the event, and returns what it posted back and its output.
func invoke(t *testing.T, bootstrap string, env map[string]string, event []byte) (*runtimeAPI, string) {
	t.Helper()
	api := &runtimeAPI{event: event, done: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: api}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bootstrap)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(), "PATH=" + os.Getenv("PATH"), "TZ=UTC",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=local",
		"AWS_LAMBDA_FUNCTION_NAME=iotwatch", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-api.done:
	case err := <-exited:
		select { // an init error is posted before the exit: its handler may still be finishing
		case <-api.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s exited (%v) without answering:\n%s", filepath.Base(filepath.Dir(bootstrap)), err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("no answer in time:\n%s", out.String())
	}
	cmd.Process.Kill()
	<-exited
	return api, out.String()
}

// TestFunctionsStartAsLambdaStartsThem builds each function's bootstrap and starts it as a
// process with the environment the synthesized template gives it, against a fake of the Runtime
// API and the emulators (minidyn, goaws, gofakes3, and a JSON fake of Secrets Manager and
// Athena), hands it a real event from events/, and checks the answer and the effects. A variable
// renamed on either side, in the stack or in a main.go, fails it. A missing variable is reported
// to the init-error endpoint.
func TestFunctionsStartAsLambdaStartsThem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the six functions")
	}
	ctx := context.Background()
	bin := t.TempDir()
	for _, fn := range []string{"evaluate", "bronze", "aggregate", "silence", "links", "notify"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, fn, "bootstrap"), "./functions/"+fn)
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		require.NoError(t, err, "building %s: %s", fn, out)
	}

	// The emulators and fakes, and the stack's resources in them.
	ddbURL := awstest.DynamoDBServer(t)
	ddb := awstest.DynamoDBClient(ddbURL)
	awstest.CreateTable(t, ddb, "iotwatch-table")
	store := dynamostore.New(ddb, "iotwatch-table")
	f, err := os.Open("../../events/thresholds.csv")
	require.NoError(t, err)
	cfgs, err := threshold.ParseCSV(f, "thresholds.csv")
	f.Close()
	require.NoError(t, err)
	require.NoError(t, store.PutThresholds(ctx, cfgs))
	f, err = os.Open("../../events/devices.csv")
	require.NoError(t, err)
	devs, err := device.ParseCSV(f, "devices.csv")
	f.Close()
	require.NoError(t, err)
	require.NoError(t, store.PutDevices(ctx, devs))
	snsc, sqsc := awstest.SNS(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("iotwatch-bootstrap-alerts")})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("iotwatch-bootstrap-all")})
	require.NoError(t, err)
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])})
	require.NoError(t, err)
	s3URL, s3c := awstest.S3(t, "iotwatch-lake")
	fake := &awsJSON{}
	fakeSrv := httptest.NewServer(fake)
	defer fakeSrv.Close()

	bronze := awstest.FirehoseStream(t, s3c, "iotwatch-lake", "iotwatch-bronze", lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))

	const channelsKey = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	deadLetters, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("iotwatch-notify-dead-letters")})
	require.NoError(t, err)
	refs := map[string]string{
		"NotifyChannelsKey#Arn":             channelsKey,
		"NotifyDeadLetters":                 *deadLetters.QueueUrl,
		"LakeBronze":                        "iotwatch-bronze",
		"AlertingTable":                     "iotwatch-table",
		"AlertingAlerts":                    *topic.TopicArn,
		"LakeBucket":                        "iotwatch-lake",
		"LinksSecret":                       "arn:aws:secretsmanager:us-east-1:000000000000:secret:iotwatch-links",
		"LinksPagesFunctionUrl#FunctionUrl": "https://links.example.com/",
	}
	endpoints := map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": ddbURL, "AWS_ENDPOINT_URL_SNS": awstest.SNSURL(t), "AWS_ENDPOINT_URL_S3": s3URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": fakeSrv.URL, "AWS_ENDPOINT_URL_KMS": fakeSrv.URL, "AWS_ENDPOINT_URL_SQS": awstest.SNSURL(t), "AWS_ENDPOINT_URL_ATHENA": fakeSrv.URL, "AWS_ENDPOINT_URL_FIREHOSE": bronze.URL}
	envOf := func(t *testing.T, description string) map[string]string {
		env := functionEnv(t, description, refs)
		for k, v := range endpoints {
			env[k] = v
		}
		return env
	}
	event := func(name string) []byte {
		b, err := os.ReadFile("../../events/" + name)
		require.NoError(t, err)
		return b
	}

	t.Run("evaluate", func(t *testing.T) {
		api, out := invoke(t, filepath.Join(bin, "evaluate", "bootstrap"), envOf(t, "iotwatch: evaluate readings"), event("kinesis-readings.json"))
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		assert.JSONEq(t, `{"batchItemFailures":[]}`, string(api.body))
		assert.Len(t, awstest.Drain(t, sqsc, *q.QueueUrl), 4, "the sample's four alerts were published")
		list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("iotwatch-lake"), Prefix: aws.String("quarantine/")})
		require.NoError(t, err)
		assert.Len(t, list.Contents, 1, "the rejected records were quarantined")
		st, err := store.LoadDevice(ctx, "room-1")
		require.NoError(t, err)
		assert.True(t, st.State.Alarm.HasLast, "room-1's alarm state was written")
		assert.Contains(t, out, `"_aws"`, "EMF metrics on standard output")
	})
	t.Run("bronze", func(t *testing.T) {
		api, out := invoke(t, filepath.Join(bin, "bronze", "bootstrap"), envOf(t, "iotwatch: forward the readings stream"), event("kinesis-readings.json"))
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		assert.JSONEq(t, `{"batchItemFailures":[]}`, string(api.body))
		var ev events.KinesisEvent
		require.NoError(t, json.Unmarshal(event("kinesis-readings.json"), &ev))
		c := bronze.Counts()
		// the sample's malformed message (cut short) travels alone, between the readings before it
		// and those after
		assert.Equal(t, 3, c.Records, "the sample in 3 Firehose records")
		assert.Equal(t, len(ev.Records), c.Lines, "every record of the sample a line")
		list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("iotwatch-lake"), Prefix: aws.String("bronze/dt=2015-02-02/hour=14/")})
		require.NoError(t, err)
		assert.Len(t, list.Contents, 1, "bronze holds the sample's hour")
		assert.Contains(t, out, `"Forwarded"`, "EMF metrics on standard output")
	})
	t.Run("silence", func(t *testing.T) {
		api, out := invoke(t, filepath.Join(bin, "silence", "bootstrap"), envOf(t, "iotwatch: raise the silences"), event("scheduled-silence.json"))
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		var res map[string]any
		require.NoError(t, json.Unmarshal(api.body, &res), "%s", api.body)
		assert.Contains(t, res, "published_uncommitted")
	})
	t.Run("aggregate", func(t *testing.T) {
		// bronze has the hour 05 only: the hours 04 and 06 run no query
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("iotwatch-lake"), Key: aws.String("bronze/dt=2026-03-01/hour=05/iotwatch-bronze-1-2026-03-01-05-10-00-0f8fad5b-d9cb-469f-a165-70867728950e.gz"),
			Body: strings.NewReader("")})
		require.NoError(t, err)
		// a scheduled run also rewrites the latest day whose 2-hour late window is over: yesterday
		// from 02:00 UTC, the day before it until then (read on both sides of the call: the
		// day may turn over in between)
		latestDay := func() string { return time.Now().UTC().Add(-2*time.Hour - 24*time.Hour).Format("2006-01-02") }
		before := latestDay()
		api, out := invoke(t, filepath.Join(bin, "aggregate", "bootstrap"), envOf(t, "iotwatch: hourly aggregates"), event("scheduled-hourly.json"))
		after := latestDay()
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		// the sample's hours are long over: their day is written too
		var res struct {
			Hours, Days []string
		}
		require.NoError(t, json.Unmarshal(api.body, &res), "%s", api.body)
		assert.Equal(t, []string{"2026-03-01T04", "2026-03-01T05", "2026-03-01T06"}, res.Hours)
		wantDays := []string{"2026-03-01", after}
		if before != after && slices.Contains(res.Days, before) {
			wantDays = []string{"2026-03-01", before}
		}
		assert.ElementsMatch(t, wantDays, res.Days)
		fake.mu.Lock()
		defer fake.mu.Unlock()
		require.Len(t, fake.queries, 7+1+10+4*len(wantDays), "the tables made and the probe of the column added since (silver's metrics), 10 statements for the hour with bronze, 4 a day")
		assert.Contains(t, fake.queries[0], "LOCATION 's3://iotwatch-lake/silver/readings/'", "the Iceberg tables live in the lake bucket of the stack")
	})
	t.Run("links", func(t *testing.T) {
		api, out := invoke(t, filepath.Join(bin, "links", "bootstrap"), envOf(t, "iotwatch: one-click"), event("links-get.json"))
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		var res struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		require.NoError(t, json.Unmarshal(api.body, &res))
		assert.Equal(t, http.StatusGone, res.StatusCode, "the sample's code is no link's: %s", res.Body)
		assert.Contains(t, res.Body, "Link not valid")
	})
	t.Run("notify", func(t *testing.T) {
		// The sample: an ESCALATE of alice's. Her webhook and PagerDuty get it; her Slack refuses
		// it (400), which goes to the dead-letter queue.
		var mu sync.Mutex
		got := map[string][]string{}
		receiver := func(name string, status int) *httptest.Server {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got[name] = append(got[name], string(body))
				mu.Unlock()
				w.WriteHeader(status)
			}))
			t.Cleanup(srv.Close)
			return srv
		}
		hook, pd, slack := receiver("webhook", http.StatusOK), receiver("pagerduty", http.StatusAccepted), receiver("slack", http.StatusBadRequest)
		require.NoError(t, store.PutChannels(ctx, fakeKMS{keyID: channelsKey}, []channel.Channel{
			{UserID: "alice", Kind: channel.Webhook, Target: hook.URL + "/hook", Secret: "0123456789abcdef0123"},
			{UserID: "alice", Kind: channel.PagerDuty, Target: "3fcc9112463424b599f996f9e780dfc6"},
			{UserID: "alice", Kind: channel.Slack, Target: slack.URL + "/services/T0/B0/secret"},
			{UserID: "bob", Kind: channel.Webhook, Target: hook.URL + "/bob", Secret: "0123456789abcdef0123"},
		}))
		env := envOf(t, "iotwatch: deliver alerts")
		assert.Equal(t, "https://events.pagerduty.com/v2/enqueue", env["PAGERDUTY_URL"], "PagerDuty's endpoint by default")
		env["PAGERDUTY_URL"] = pd.URL + "/v2/enqueue"
		api, out := invoke(t, filepath.Join(bin, "notify", "bootstrap"), env, event("sns-alert.json"))
		require.Equal(t, "response", api.kind, "%s\n%s", api.body, out)
		assert.JSONEq(t, `{"alerts":1,"outcomes":{"sent":2,"dead_letter":1}}`, string(api.body))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, got["webhook"], 1, "alice's webhook only")
		assert.Contains(t, got["webhook"][0], `"alert_id":"3f2a9c1e7b4d5a60"`)
		require.Len(t, got["pagerduty"], 1)
		assert.Contains(t, got["pagerduty"][0], `"event_action":"trigger"`)
		msgs, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: deadLetters.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.Len(t, msgs.Messages, 1)
		assert.Contains(t, *msgs.Messages[0].Body, "HTTP 400")
		assert.NotContains(t, *msgs.Messages[0].Body, "/services/T0/B0/secret", "no target in a dead letter")
		assert.Contains(t, out, `"NotifySent"`, "EMF metrics on standard output")
	})
	t.Run("a missing variable is an init error", func(t *testing.T) {
		env := envOf(t, "iotwatch: evaluate readings")
		delete(env, "TABLE_NAME")
		api, out := invoke(t, filepath.Join(bin, "evaluate", "bootstrap"), env, event("kinesis-readings.json"))
		require.Equal(t, "init error", api.kind, out)
		assert.Equal(t, lambdainit.ErrorType, api.header.Get("Lambda-Runtime-Function-Error-Type"))
		var e struct{ ErrorMessage, ErrorType string }
		require.NoError(t, json.Unmarshal(api.body, &e))
		assert.Contains(t, e.ErrorMessage, "TABLE_NAME")
		assert.Equal(t, lambdainit.ErrorType, e.ErrorType)
	})
}
