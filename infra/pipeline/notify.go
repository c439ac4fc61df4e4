package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// Notify delivers alerts to people's Slack, Teams, webhook and PagerDuty channels (issue 25): a
// function subscribed to the alerts topic, the KMS key the channels' targets and secrets are
// sealed with, the dead-letter queue of what could not be delivered, and the on-failure queue of
// the invocations that failed.
type Notify struct {
	constructs.Construct
	Function     awslambda.Function
	Key          awskms.Key
	DeadLetters  awssqs.Queue
	OnFailure    awssqs.Queue
	Subscription awssns.CfnSubscription
}

// NotifyProps wires the function to the table and the alerts topic.
type NotifyProps struct {
	Alerting     *Alerting
	FunctionsDir string
	// PagerDutyURL is the Events API v2 endpoint (context pagerdutyUrl; "" is PagerDuty's).
	PagerDutyURL string
}

// NotifyFilterPolicy is the subscription's filter: the alerts that are not suppressed, and every
// RESOLVE (a suppressed RESOLVE still resolves a PagerDuty incident: channel.Routes decides). The
// other kinds SNS carries (SNOOZE, UNSNOOZE) go nowhere.
func NotifyFilterPolicy() map[string]any {
	return map[string]any{
		"kind": []any{string(alert.Open), string(alert.Escalate), string(alert.Remind), string(alert.Resolve), string(alert.Digest), "ACK"},
		"$or": []any{
			map[string]any{"suppressed": []any{alert.NotSuppressed}},
			map[string]any{"kind": []any{string(alert.Resolve)}},
		},
	}
}

// NewNotify builds the notify function and its subscription.
func NewNotify(scope constructs.Construct, id string, p *NotifyProps) *Notify {
	c := constructs.NewConstruct(scope, jsii.String(id))
	n := &Notify{Construct: c}
	a := p.Alerting
	pd := p.PagerDutyURL
	if pd == "" {
		pd = fnenv.DefaultPagerDutyURL
	}

	// Targets and secrets are sealed with this key by `iotwatch channels put` (kms:Encrypt, given
	// to operators by their own IAM policy) and opened by this function alone (kms:Decrypt).
	n.Key = awskms.NewKey(c, jsii.String("ChannelsKey"), &awskms.KeyProps{
		Description:       jsii.String("iotwatch channels: Slack, Teams and webhook URLs, PagerDuty routing keys, webhook secrets"),
		EnableKeyRotation: jsii.Bool(true), RemovalPolicy: awscdk.RemovalPolicy_DESTROY, // KMS waits 30 days before deleting it
	})
	n.DeadLetters = deadLetterQueue(c, "DeadLetters")
	n.OnFailure = deadLetterQueue(c, "OnFailure")
	n.Function = goFunction(c, "Deliver", "notify", p.FunctionsDir, "iotwatch: deliver alerts to Slack, Teams, webhooks and PagerDuty", 256, fnenv.NotifyTimeoutSeconds,
		map[string]*string{
			fnenv.TableName:           a.Table.TableName(),
			fnenv.ChannelsKeyARN:      n.Key.KeyArn(),
			fnenv.NotifyDeadLetterURL: n.DeadLetters.QueueUrl(),
			fnenv.PagerDutyURL:        jsii.String(pd),
		})
	fn := n.Function
	// SNS invokes it asynchronously: two retries of a failed invocation (channels not readable, a
	// dead letter not written), then the on-failure queue (alarmed).
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
		OnFailure:     awslambdadestinations.NewSqsDestination(n.OnFailure),
	})
	// Least privilege: Query on the channels partitions only, Decrypt with the channels key,
	// SendMessage to its dead letter.
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("dynamodb:Query"),
		Resources:  jsii.Strings(*a.Table.TableArn()),
		Conditions: &map[string]interface{}{"ForAllValues:StringLike": map[string]interface{}{"dynamodb:LeadingKeys": []string{table.ChannelsPKPrefix + "*"}}},
	}))
	allow(fn, []string{"kms:Decrypt"}, *n.Key.KeyArn())
	allow(fn, []string{"sqs:SendMessage"}, *n.DeadLetters.QueueArn())

	// The subscription is an L1: its filter needs "$or", which the L2's filter policy cannot say.
	// What SNS cannot hand to the function at all (its retries used up) goes to the on-failure
	// queue too: the alerts topic, and only it, may send there.
	n.OnFailure.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sqs:SendMessage"),
		Resources:  jsii.Strings(*n.OnFailure.QueueArn()),
		Conditions: &map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:SourceArn": *a.Topic.TopicArn()}},
	}))
	n.Subscription = awssns.NewCfnSubscription(c, jsii.String("Subscription"), &awssns.CfnSubscriptionProps{
		TopicArn:      a.Topic.TopicArn(),
		Protocol:      jsii.String("lambda"),
		Endpoint:      fn.FunctionArn(),
		FilterPolicy:  NotifyFilterPolicy(),
		RedrivePolicy: map[string]any{"deadLetterTargetArn": *n.OnFailure.QueueArn()},
	})
	fn.AddPermission(jsii.String("FromAlertsTopic"), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil),
		Action:    jsii.String("lambda:InvokeFunction"),
		SourceArn: a.Topic.TopicArn(),
	})
	return n
}
