// Command notify is the Lambda that the alerts topic invokes with each alert that is not
// suppressed (or is a RESOLVE, which may still resolve a PagerDuty incident): it delivers the
// alert to its user's Slack, Teams, webhook and PagerDuty channels, read from the table and
// opened with the channels KMS key, and dead-letters what it cannot deliver to an SQS queue.
// Logic lives in shared/ (service/notify; the SNS edge and the dead letter in aws/notifylambda).
//
// Environment (shared/contract/fnenv): TABLE_NAME, CHANNELS_KEY_ARN, NOTIFY_DEAD_LETTER_URL
// (required); PAGERDUTY_URL (default PagerDuty's endpoint).
package main

import (
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/kmsseal"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/notifylambda"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

func main() {
	b := lambdainit.Start(fnenv.TableName, fnenv.ChannelsKeyARN, fnenv.NotifyDeadLetterURL)
	store := dynamostore.New(dynamodb.NewFromConfig(b.AWS), b.Getenv(fnenv.TableName))
	opener := kmsseal.New(kms.NewFromConfig(b.AWS), b.Getenv(fnenv.ChannelsKeyARN))
	n, err := notify.New(notify.Config{
		DeadLetter:   notifylambda.NewSQSDeadLetter(sqs.NewFromConfig(b.AWS), b.Getenv(fnenv.NotifyDeadLetterURL)),
		PagerDutyURL: b.Getenv(fnenv.PagerDutyURL),
		MaxDelay:     notifylambda.MaxDelay,
		Log:          b.Log,
	})
	b.Check(err, "the notifier")
	cache := notifylambda.NewCache(notifylambda.OpenedBy(store, opener), table.ChannelsCacheBound, time.Now)
	lambda.Start(notifylambda.NewHandler(cache, n, b.Out, time.Now, b.Log).Handle)
}
