package pipeline

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Silence is the check of rule device_silent on AWS: a function that an EventBridge schedule
// runs every minute, which reads the table's due index and raises the silences and silence
// reminders that are due through the alerts topic, as the evaluate function raises the others.
type Silence struct {
	constructs.Construct
	Function  awslambda.Function
	Schedule  awsevents.Rule
	OnFailure awssqs.Queue
}

// SilenceProps wires the check to the hot path's table and topic.
type SilenceProps struct {
	Alerting     *Alerting
	FunctionsDir string
}

// SilenceTimeoutSeconds bounds one check: under the schedule's minute, so that runs rarely
// overlap (when they do, the conditional state writes keep each alert once per id).
const SilenceTimeoutSeconds = 50

// NewSilence builds the silence function and its schedule.
func NewSilence(scope constructs.Construct, id string, p *SilenceProps) *Silence {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Silence{Construct: c}
	a := p.Alerting

	s.OnFailure = deadLetterQueue(c, "OnFailure")
	s.Function = goFunction(c, "Check", "silence", p.FunctionsDir, "iotwatch: raise the silences and silence reminders that are due", 256, SilenceTimeoutSeconds,
		map[string]*string{
			fnenv.TableName:       a.Table.TableName(),
			fnenv.AlertsTopicARN:  a.Topic.TopicArn(),
			fnenv.LoadConcurrency: jsii.String(strconv.Itoa(evaluator.DefaultConfig.LoadConcurrency)),
		})
	fn := s.Function
	// No retry of a failed run: the next minute's run is the retry, and it sees what fell due since.
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(2)),
		OnFailure:     awslambdadestinations.NewSqsDestination(s.OnFailure),
	})
	// Least privilege: the due index (Query), the due devices' items (Query, and GetItem when a
	// write's answer was lost), people's quiet hours (BatchGetItem), their conditional state
	// writes, the digests' held alerts (Query, BatchWriteItem, DeleteItem), and publishing.
	allow(fn, []string{"dynamodb:Query"}, *a.Table.TableArn()+"/index/"+table.DueIndex)
	allow(fn, []string{"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"}, *a.Table.TableArn())
	allowStateWrites(fn, *a.Table.TableArn(), []string{"dynamodb:PutItem"}, []string{"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"})
	allow(fn, []string{"sns:Publish"}, *a.Topic.TopicArn())
	allow(fn, []string{"kms:GenerateDataKey", "kms:Decrypt"}, *a.TopicKey.KeyArn())

	s.Schedule = awsevents.NewRule(c, jsii.String("EveryMinute"), &awsevents.RuleProps{
		Description: jsii.String("Check the devices whose silence or silence reminder is due"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
	})
	s.Schedule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(2), MaxEventAge: awscdk.Duration_Minutes(jsii.Number(2)), DeadLetterQueue: s.OnFailure,
	}))
	return s
}
