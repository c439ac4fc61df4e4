// Command evaluate is the Lambda that consumes the readings stream: it wires the DynamoDB store,
// the SNS publisher and the S3 quarantine to the evaluation service, behind the Kinesis edge.
// Logic lives in shared/.
//
// Environment (shared/contract/fnenv): TABLE_NAME, ALERTS_TOPIC_ARN, LAKE_BUCKET (required);
// CACHE_TTL, LOAD_CONCURRENCY.
package main

import (
	"io"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/evaluatorinit"
	"github.com/iotwatch/iotwatch/shared/aws/kinesislambda"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/lambdametrics"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func main() {
	b := lambdainit.Start(fnenv.TableName, fnenv.AlertsTopicARN, fnenv.LakeBucket)
	a, err := evaluatorinit.New(b.Ctx, b.AWS, b.Getenv)
	b.Check(err, "the evaluation service")
	quarantine := s3quarantine.NewQuarantine(s3.NewFromConfig(b.AWS), b.Getenv(fnenv.LakeBucket))
	observe := func(s evaluator.Stats) {
		b.Metrics(func(w io.Writer, now time.Time) error {
			return lambdametrics.Write(w, "evaluate", s, b.Calls.Take(), now)
		})
	}
	svc := evaluator.New(a.Store, a.Publisher, quarantine, a.Config, b.Log, observe)
	lambda.Start(kinesislambda.NewHandler(svc, true).Handle)
}
