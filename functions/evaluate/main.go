// Command evaluate is the Lambda that consumes the readings stream: it wires the DynamoDB store,
// the SNS publisher and the S3 quarantine to the evaluation service, behind the Kinesis edge.
// Logic lives in shared/.
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN, LAKE_BUCKET (required);
// CACHE_TTL, LOAD_CONCURRENCY.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/kinesislambda"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/lambdametrics"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { lambdainit.Fail(log, msg, args...) }

	table, topic, bucket := os.Getenv(fnenv.TableName), os.Getenv(fnenv.AlertsTopicARN), os.Getenv(fnenv.LakeBucket)
	if table == "" || topic == "" || bucket == "" {
		fail(fnenv.TableName + ", " + fnenv.AlertsTopicARN + " and " + fnenv.LakeBucket + " must be set")
	}
	conf, err := kinesislambda.ConfigFromEnv(os.Getenv)
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
	conf.Users = store // quiet hours: people's preferences live in the same table,
	conf.Held = store  // and what they hold until the user's digest
	if conf.Linker, err = linkslambda.Linker(ctx, secretsmanager.NewFromConfig(cfg), os.Getenv(fnenv.LinkSecretARN), os.Getenv(fnenv.LinkBaseURL)); err != nil {
		fail("one-click links", "err", err)
	}
	pub := snsalerts.New(sns.NewFromConfig(cfg), topic)
	quarantine := s3quarantine.NewQuarantine(s3.NewFromConfig(cfg), bucket)
	observe := func(s evaluator.Stats) {
		if err := lambdametrics.Write(os.Stdout, "evaluate", s, calls.Take(), time.Now()); err != nil {
			log.Error("writing metrics", "err", err)
		}
	}
	svc := evaluator.New(store, pub, quarantine, conf, log, observe)
	lambda.Start(kinesislambda.NewHandler(svc, true).Handle)
}
