// Command links is the Lambda behind a function URL that serves the alerts' one-click links
// (acknowledge, snooze 1 h): a confirmation page on GET, the action on POST, through the same
// table the evaluate function reads; each action is published as a row for the lake. Logic lives
// in shared/ (service/links; the function URL edge in aws/linkslambda).
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN, LINK_SECRET_ARN (required).
package main

import (
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

func main() {
	b := lambdainit.Start(fnenv.TableName, fnenv.AlertsTopicARN, fnenv.LinkSecretARN)
	secret, err := linkslambda.Secret(b.Ctx, secretsmanager.NewFromConfig(b.AWS), b.Getenv(fnenv.LinkSecretARN))
	b.Check(err, "links secret")
	signer, err := links.NewSigner(secret, "") // it checks links; it need not know its own URL
	b.Check(err, "links secret")
	store := dynamostore.New(dynamodb.NewFromConfig(b.AWS), b.Getenv(fnenv.TableName))
	recorder := links.Published{Publisher: snsalerts.New(sns.NewFromConfig(b.AWS), b.Getenv(fnenv.AlertsTopicARN))}
	h := links.NewHandler(signer, store, recorder, time.Now, b.Log)
	lambda.Start(linkslambda.NewHandler(h).Handle)
}
