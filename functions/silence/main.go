// Command silence is the Lambda that an EventBridge schedule runs every minute: it finds the
// devices whose silence (rule device_silent) or silence reminder is due, from the DynamoDB due
// index, and raises their alerts through the same evaluation service, SNS publisher and
// conditional state writes as the evaluate function. Logic lives in shared/.
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN (required); LOAD_CONCURRENCY
// (read as the evaluate function reads it: evaluator.ConfigFromEnv).
package main

import (
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/iotwatch/iotwatch/shared/aws/evaluatorinit"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/silencelambda"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func main() {
	b := lambdainit.Start(fnenv.TableName, fnenv.AlertsTopicARN)
	a, err := evaluatorinit.New(b.Ctx, b.AWS, b.Getenv)
	b.Check(err, "the evaluation service")
	// The check quarantines nothing: it reads no message.
	svc := evaluator.New(a.Store, a.Publisher, nil, a.Config, b.Log, nil)
	lambda.Start(silencelambda.NewHandler(a.Store, svc, time.Now, b.Out, b.Calls.Take).Handle)
}
