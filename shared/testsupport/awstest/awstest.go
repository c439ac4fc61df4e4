// Package awstest starts in-process AWS emulators (minidyn for DynamoDB, goaws for SNS and SQS,
// gofakes3 for S3) and returns real SDK v2 clients pointed at them, so adapters are tested over
// the real protocol with no network, no Docker and no AWS account. Test code only.
package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/sirupsen/logrus"
	miniserver "github.com/truora/minidyn/server"

	"github.com/iotwatch/iotwatch/shared/contract/table"
)

// Config returns an SDK configuration with dummy credentials for an emulator at url.
func Config(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(url),
		// The standard retryer with its three attempts, but a short pause and no retry quota, so
		// tests that inject many faults stay fast and see every attempt.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 2 * time.Millisecond, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// Option adjusts the SDK configuration of an emulator's client.
type Option func(*aws.Config)

// WithTransport sends the client's requests through rt (e.g. a Faults injector).
func WithTransport(rt http.RoundTripper) Option {
	return func(c *aws.Config) { c.HTTPClient = &http.Client{Transport: rt} }
}

// WithAPIOptions adds SDK middleware (e.g. an awsclient.Counter).
func WithAPIOptions(fns ...func(*middleware.Stack) error) Option {
	return func(c *aws.Config) { c.APIOptions = append(c.APIOptions, fns...) }
}

// DynamoDBServer starts minidyn and returns its URL.
func DynamoDBServer(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(reindexOnPut(miniserver.NewServer()))
	t.Cleanup(srv.Close)
	return srv.URL
}

// DynamoDBClient returns a client to the emulator at url.
func DynamoDBClient(url string, opts ...Option) *dynamodb.Client {
	cfg := Config(url)
	for _, o := range opts {
		o(&cfg)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
}

// DynamoDB starts minidyn and returns its URL and a client.
func DynamoDB(t testing.TB, opts ...Option) (string, *dynamodb.Client) {
	t.Helper()
	url := DynamoDBServer(t)
	return url, DynamoDBClient(url, opts...)
}

// CreateTable creates the store's table (shared/contract/table: pk, sk strings, on demand) on an emulator.
func CreateTable(t testing.TB, client *dynamodb.Client, name string) {
	t.Helper()
	_, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(table.PK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(table.SK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(table.DueShardAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(table.DueAtAttr), AttributeType: types.ScalarAttributeTypeN},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(table.DueIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(table.DueShardAttr), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(table.DueAtAttr), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(table.PK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(table.SK), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatalf("creating table %s: %v", name, err)
	}
}

// S3 starts gofakes3 with one bucket and returns its URL and a path-style client.
func S3(t testing.TB, bucket string, opts ...Option) (string, *s3.Client) {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	cfg := Config(srv.URL)
	for _, o := range opts {
		o(&cfg)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return srv.URL, client
}

var (
	goawsOnce sync.Once
	goawsURL  string
	goawsErr  error
)

// SNS starts goaws once per test binary (it keeps its topics in package state) and returns SNS
// and SQS clients to it. Deliveries are observed through SQS subscriptions. opts apply to the SNS
// client only.
func SNS(t testing.TB, opts ...Option) (*sns.Client, *sqs.Client) {
	t.Helper()
	goawsOnce.Do(func() {
		logrus.SetLevel(logrus.ErrorLevel)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			goawsErr = err
			return
		}
		models.CurrentEnvironment.Host = "127.0.0.1"
		models.CurrentEnvironment.Port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		go func() { _ = http.Serve(l, renumberBatchMembers(router.New())) }() // serves until the test binary exits
		// What goaws's own main runs: messages received and not deleted become visible again
		// when their visibility timeout ends (Drain relies on it).
		go gosqs.PeriodicTasks(200*time.Millisecond, make(chan bool))
		goawsURL = "http://" + l.Addr().String()
	})
	if goawsErr != nil {
		t.Fatalf("starting goaws: %v", goawsErr)
	}
	cfg := Config(goawsURL)
	for _, o := range opts {
		o(&cfg)
	}
	return sns.NewFromConfig(cfg), sqs.NewFromConfig(Config(goawsURL))
}

// SNSURL is the address of goaws (for a process started with AWS_ENDPOINT_URL_SNS), once SNS has
// started it.
func SNSURL(t testing.TB) string {
	t.Helper()
	SNS(t)
	return goawsURL
}

// renumberBatchMembers works around goaws v0.5.4 counting PublishBatch entries before it drops the
// empty slot its 1-based form decoding leaves at index 0, so that it refuses a batch of exactly 10
// entries, which SNS accepts. It renumbers PublishBatchRequestEntries.member.N to N-1.
func renumberBatchMembers(next http.Handler) http.Handler {
	const prefix = "PublishBatchRequestEntries.member."
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err == nil && form.Get("Action") == "PublishBatch" {
			out := url.Values{}
			for k, v := range form {
				if rest, ok := strings.CutPrefix(k, prefix); ok {
					num, tail, _ := strings.Cut(rest, ".")
					if n, err := strconv.Atoi(num); err == nil {
						k = prefix + strconv.Itoa(n-1) + "." + tail
					}
				}
				out[k] = v
			}
			body = []byte(out.Encode())
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// Drain receives every message of an SQS queue and returns the default message of each SNS
// envelope, in arrival order, each SQS message once. A receive whose answer is lost on the way
// (under load kept-alive connections get reset, and the SDK asks again) leaves its messages
// hidden; they come back after a three-second visibility timeout, and Drain waits for them.
func Drain(t testing.TB, client *sqs.Client, url string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	seen := map[string]bool{}
	// pending asks the queue itself whether it holds anything: an empty receive alone does not
	// say so (goaws skips a message it does not consider ready yet).
	pending := func() bool {
		attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		return attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" || attrs.Attributes["ApproximateNumberOfMessages"] != "0"
	}
	deadline := time.Now().Add(30 * time.Second)
	for empty := 0; empty < 2 || pending(); {
		if time.Now().After(deadline) {
			t.Fatalf("queue %s still has messages after 30 s", url)
		}
		res, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, VisibilityTimeout: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			empty++
			if empty >= 2 {
				time.Sleep(200 * time.Millisecond) // hidden messages reappear after their timeout
			}
			continue
		}
		empty = 0
		for _, m := range res.Messages {
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			if seen[*m.MessageId] {
				continue // the same SQS message again: received before, its answer lost
			}
			seen[*m.MessageId] = true
			var envelope struct{ Message string }
			if err := json.Unmarshal([]byte(*m.Body), &envelope); err != nil {
				t.Fatalf("not an SNS envelope: %s", *m.Body)
			}
			out = append(out, envelope.Message)
		}
	}
	return out
}
