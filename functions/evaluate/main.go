// Command evaluate is the Lambda that consumes the readings stream: it wires the DynamoDB store,
// the SNS publisher and the S3 quarantine to the evaluator's handler. Logic lives in shared/.
//
// Environment: TABLE_NAME, ALERTS_TOPIC_ARN, LAKE_BUCKET (required); CACHE_TTL, LOAD_CONCURRENCY.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { log.Error(msg, args...); os.Exit(1) }

	table, topic, bucket := os.Getenv("TABLE_NAME"), os.Getenv("ALERTS_TOPIC_ARN"), os.Getenv("LAKE_BUCKET")
	if table == "" || topic == "" || bucket == "" {
		fail("TABLE_NAME, ALERTS_TOPIC_ARN and LAKE_BUCKET must be set")
	}
	conf, err := evaluator.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail("bad configuration", "err", err)
	}
	cfg, err := awsclient.Load(ctx, "")
	if err != nil {
		fail("AWS configuration", "err", err)
	}
	var calls awsclient.Counter
	cfg.APIOptions = append(cfg.APIOptions, calls.Add)

	store := dynamostore.New(dynamodb.NewFromConfig(cfg), table)
	pub := snsalerts.New(sns.NewFromConfig(cfg), topic)
	quarantine := s3quarantine.NewQuarantine(s3.NewFromConfig(cfg), bucket)
	observe := func(s evaluator.Stats) {
		if err := evaluator.WriteMetrics(os.Stdout, s, calls.Take(), time.Now()); err != nil {
			log.Error("writing metrics", "err", err)
		}
	}
	h := evaluator.New(store, pub, quarantine, conf, log, observe)
	lambda.Start(h.Handle)
}
