package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
)

// Ingestion is what devices talk to: the IoT policy, the topic rule, and the readings stream.
type Ingestion struct {
	constructs.Construct
	Stream       awskinesis.Stream
	Rule         awsiot.CfnTopicRule
	RuleErrors   awssqs.Queue // messages the rule could not put on the stream
	DevicePolicy awsiot.CfnPolicy
	DataEndpoint *string
}

// IngestionProps configures ingestion.
type IngestionProps struct {
	// Shards is the provisioned shard count; OnDemand switches the stream to on-demand capacity.
	Shards   float64
	OnDemand bool
}

// StreamRetentionHours is how long the readings stream keeps a record: 24 h, the least Kinesis
// keeps (longer is billed extra).
const StreamRetentionHours = 24

// MaxRecordAgeHours is when an event source mapping gives up on a record: an hour before the
// stream trims it, so that the batch's place (shard and sequence numbers) in the on-failure queue
// still names records the stream holds, for an hour, to be read again. At the retention itself
// the record could leave the stream first, and the mapping would skip it with no trace.
const MaxRecordAgeHours = StreamRetentionHours - 1

// NewIngestion builds the stream, the rule feeding it, and the policy devices connect with.
func NewIngestion(scope constructs.Construct, id string, p *IngestionProps) *Ingestion {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := &Ingestion{Construct: c}
	stack := awscdk.Stack_Of(c)

	sp := &awskinesis.StreamProps{
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(StreamRetentionHours)),
		// Destroyed with the stack: kept, it would bill its shards (~$11 a month for one) with no
		// reader, and trim what it holds within a day anyway; a new deploy makes a new stream.
		// What it holds and bronze does not yet is lost with it: docs/deploying.md says to let
		// bronze catch up (BronzeReadLag) before `make destroy`.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	}
	if p.OnDemand {
		sp.StreamMode = awskinesis.StreamMode_ON_DEMAND
	} else {
		sp.StreamMode = awskinesis.StreamMode_PROVISIONED
		sp.ShardCount = jsii.Number(p.Shards)
	}
	in.Stream = awskinesis.NewStream(c, jsii.String("Readings"), sp)

	in.RuleErrors = deadLetterQueue(c, "RuleErrors")
	role := awsiam.NewRole(c, jsii.String("RuleRole"), &awsiam.RoleProps{
		AssumedBy:   serviceOfThisAccount(c, "iot.amazonaws.com", "iot", "rule/*"),
		Description: jsii.String("IoT rule: put readings on the stream, failed ones on the error queue"),
	})
	in.Stream.GrantWrite(role)
	in.RuleErrors.GrantSendMessages(role)
	in.Rule = awsiot.NewCfnTopicRule(c, jsii.String("Rule"), &awsiot.CfnTopicRuleProps{
		TopicRulePayload: &awsiot.CfnTopicRule_TopicRulePayloadProperty{
			Description:      jsii.String("Every reading from devices/{device_id}/readings onto the stream, keyed by device id"),
			Sql:              jsii.String(topic.RuleSQL),
			AwsIotSqlVersion: jsii.String(topic.RuleSQLVersion),
			RuleDisabled:     jsii.Bool(false),
			Actions: &[]*awsiot.CfnTopicRule_ActionProperty{{
				Kinesis: &awsiot.CfnTopicRule_KinesisActionProperty{
					StreamName: in.Stream.StreamName(), PartitionKey: jsii.String(topic.PartitionKey), RoleArn: role.RoleArn(),
				},
			}},
			ErrorAction: &awsiot.CfnTopicRule_ActionProperty{
				Sqs: &awsiot.CfnTopicRule_SqsActionProperty{QueueUrl: in.RuleErrors.QueueUrl(), RoleArn: role.RoleArn(),
					// the error action's message is JSON that carries the payload in base64 already
					// (base64OriginalPayload): not encoded again, so the queue reads as it is
					UseBase64: jsii.Bool(false)},
			},
		},
	})

	// A device connects only as its own thing and publishes only its own readings topic: the
	// classic one through the message broker, or its Basic Ingest topic straight to the rule
	// ($aws/rules/RULE/devices/{thing}/readings: no messaging charge; the rule sees the same topic).
	arn := func(resource string) string {
		return "arn:" + *stack.Partition() + ":iot:" + *stack.Region() + ":" + *stack.Account() + ":" + resource
	}
	in.DevicePolicy = awsiot.NewCfnPolicy(c, jsii.String("DevicePolicy"), &awsiot.CfnPolicyProps{
		PolicyDocument: map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{
				map[string]interface{}{"Effect": "Allow", "Action": "iot:Connect",
					"Resource":  arn("client/${iot:Connection.Thing.ThingName}"),
					"Condition": map[string]interface{}{"Bool": map[string]interface{}{"iot:Connection.Thing.IsAttached": "true"}}},
				map[string]interface{}{"Effect": "Allow", "Action": "iot:Publish",
					"Resource": []interface{}{arn("topic/" + topic.Readings("${iot:Connection.Thing.ThingName}")),
						arn("topic/" + topic.BasicIngest(*in.Rule.Ref(), "${iot:Connection.Thing.ThingName}"))}},
			},
		},
	})

	// Kept when the stack is deleted: IoT refuses to delete a policy attached to a certificate
	// (DeletePolicy's DeleteConflictException), and `iotwatch device register` attached it to every
	// device's; deleting it would fail the whole destroy. docs/deploying.md says how to remove it.
	in.DevicePolicy.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)

	// The account's IoT data endpoint, for the stack outputs (devices connect there).
	endpoint := customresources.NewAwsCustomResource(c, jsii.String("DataEndpoint"), &customresources.AwsCustomResourceProps{
		OnUpdate: &customresources.AwsSdkCall{
			Service: jsii.String("Iot"), Action: jsii.String("describeEndpoint"),
			Parameters:         map[string]interface{}{"endpointType": "iot:Data-ATS"},
			PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String("iot-data-ats-endpoint")),
		},
		Policy:              customresources.AwsCustomResourcePolicy_FromSdkCalls(&customresources.SdkCallsPolicyOptions{Resources: customresources.AwsCustomResourcePolicy_ANY_RESOURCE()}),
		InstallLatestAwsSdk: jsii.Bool(false),
	})
	in.DataEndpoint = endpoint.GetResponseField(jsii.String("endpointAddress"))
	return in
}
