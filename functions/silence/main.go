// Command silence is the Lambda that an EventBridge schedule runs every minute: it finds the
// devices whose silence (rule device_silent) or silence reminder is due, from the DynamoDB due
// index, and raises their alerts through the same evaluation service, SNS publisher and
// conditional state writes as the evaluate function. Logic lives in shared/.
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN (required); LOAD_CONCURRENCY
// (read as the evaluate function reads it).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/kinesislambda"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/aws/silencelambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { lambdainit.Fail(log, msg, args...) }

	table, topic := os.Getenv(fnenv.TableName), os.Getenv(fnenv.AlertsTopicARN)
	if table == "" || topic == "" {
		fail(fnenv.TableName + " and " + fnenv.AlertsTopicARN + " must be set")
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
	// The check quarantines nothing: it reads no message.
	svc := evaluator.New(store, pub, nil, conf, log, nil)
	lambda.Start(silencelambda.NewHandler(store, svc, time.Now, os.Stdout, calls.Take).Handle)
}
