// Command links is the Lambda behind a function URL that serves the alerts' one-click links
// (acknowledge, snooze 1 h): a confirmation page on GET, the action on POST, through the same
// table the evaluate function reads; each action is published as a row for the lake. Logic lives
// in shared/ (service/links; the function URL edge in aws/linkslambda).
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN, LINK_SECRET_ARN (required).
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
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { lambdainit.Fail(log, msg, args...) }

	table, topic, secretARN := os.Getenv(fnenv.TableName), os.Getenv(fnenv.AlertsTopicARN), os.Getenv(fnenv.LinkSecretARN)
	if table == "" || topic == "" || secretARN == "" {
		fail(fnenv.TableName + ", " + fnenv.AlertsTopicARN + " and " + fnenv.LinkSecretARN + " must be set")
	}
	cfg, err := awsclient.Load(ctx, "")
	if err != nil {
		fail("AWS configuration", "err", err)
	}
	secret, err := linkslambda.Secret(ctx, secretsmanager.NewFromConfig(cfg), secretARN)
	if err != nil {
		fail("links secret", "err", err)
	}
	signer, err := links.NewSigner(secret, "") // it checks links; it need not know its own URL
	if err != nil {
		fail("links secret", "err", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), table)
	recorder := links.Published{Publisher: snsalerts.New(sns.NewFromConfig(cfg), topic)}
	h := links.NewHandler(signer, store, recorder, time.Now, log)
	lambda.Start(linkslambda.NewHandler(h).Handle)
}
