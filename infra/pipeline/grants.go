package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// allow adds one statement with exactly these actions on exactly these resources. The project
// writes its permissions this way rather than with the grant helpers, which expand to action
// wildcards (s3:GetObject*, s3:Abort*, kms:GenerateDataKey*).
func allow(to awsiam.IGrantable, actions []string, resources ...string) {
	to.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
	}))
}

// objects is the ARN of the keys under prefix/ in bucket.
func objects(b awss3.IBucket, prefix string) string {
	return *b.ArnForObjects(jsii.String(prefix + "/*"))
}

// writeObjects lets a principal write (and abort multipart writes) under the prefixes of a bucket.
func writeObjects(to awsiam.IGrantable, b awss3.IBucket, prefixes ...string) {
	var res []string
	for _, p := range prefixes {
		res = append(res, objects(b, p))
	}
	allow(to, []string{"s3:PutObject", "s3:AbortMultipartUpload"}, res...)
}

// firehoseBucketAccess is what Firehose needs of the bucket itself.
func firehoseBucketAccess(to awsiam.IGrantable, b awss3.IBucket) {
	allow(to, []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, *b.BucketArn())
}

// deadLetterQueue is where the pipeline keeps what it could not deliver or process: encrypted,
// TLS only, kept 14 days, and alarmed by Operations.
func deadLetterQueue(scope constructs.Construct, id string) awssqs.Queue {
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// serviceOfThisAccount is a service principal that may assume a role only on behalf of this
// account's resources (ARNs matching resource, e.g. "rule/*", in this region): without it, the
// service could be made to use the role for another account's resource (the confused deputy).
// The resource is a pattern, not the resource's own ARN, where that resource names the role
// (a cycle in the template).
func serviceOfThisAccount(scope constructs.Construct, service, arnService, resource string) awsiam.IPrincipal {
	stack := awscdk.Stack_Of(scope)
	return awsiam.NewServicePrincipal(jsii.String(service), &awsiam.ServicePrincipalOpts{Conditions: &map[string]interface{}{
		"StringEquals": map[string]interface{}{"aws:SourceAccount": *stack.Account()},
		"ArnLike":      map[string]interface{}{"aws:SourceArn": "arn:" + *stack.Partition() + ":" + arnService + ":" + *stack.Region() + ":" + *stack.Account() + ":" + resource},
	}})
}

// firehoseRole is a role for one of the stack's Firehose streams, which Firehose assumes for this
// account's streams only. Firehose's guide writes that condition as sts:ExternalId, the account
// id it passes ("Grant Firehose access to an Amazon S3 destination"); the IAM guide's global keys
// (aws:SourceAccount, aws:SourceArn) are a second statement: each admits this account alone, so
// the role works whichever of the two Firehose sends, and refuses any other account.
func firehoseRole(scope constructs.Construct, id, description string) awsiam.Role {
	stack := awscdk.Stack_Of(scope)
	role := awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"sts:ExternalId": *stack.Account()},
		}}),
		Description: jsii.String(description),
	})
	role.AssumeRolePolicy().AddStatements(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("sts:AssumeRole"),
		Principals: &[]awsiam.IPrincipal{serviceOfThisAccount(scope, "firehose.amazonaws.com", "firehose", "deliverystream/*")},
	}))
	return role
}

// The table's partitions (shared/contract/table) by who writes them: a device's (its id never
// starts with '#') holds its alarm state, which the evaluate, silence and links functions write;
// #HELD#<user> holds the alerts of people's digests, which evaluate and silence write; the
// others only people's commands (and the aggregate function its lease) write.
var (
	// ProtectedPartitions are the partitions no function of the hot path may write: people's
	// preferences, the aggregation's lease, and the rules of locations and the fleet (with the
	// metrics catalog). The pattern is IAM's (StringLike).
	ProtectedPartitions = []string{table.UsersPK, table.LockPK, table.RulesPKPrefix + "*"}
	// TableWrites are the DynamoDB actions that change items.
	TableWrites = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

// allowStateWrites lets a function write the table's device partitions (deviceActions) and the
// held alerts' partitions (heldActions), and denies every write to ProtectedPartitions. The
// Deny stands even if a broader Allow is added later (an explicit Deny wins in IAM).
//
// What IAM cannot say: which items of a device's partition. dynamodb:LeadingKeys is the partition
// key only; there is no condition key for the sort key, and dynamodb:Attributes names attributes,
// not key values. So STATE and the THRESHOLD#, RULE# and META items of a device, one partition,
// are the same to IAM: what keeps them apart is the code, whose only write there is SaveState's
// PutItem of sk=STATE, conditional on the version it read (shared/aws/dynamostore).
func allowStateWrites(to awsiam.IGrantable, tableArn string, deviceActions, heldActions []string) {
	p := to.GrantPrincipal()
	p.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(deviceActions...), Resources: jsii.Strings(tableArn),
		Conditions: &map[string]interface{}{"ForAllValues:StringNotLike": map[string]interface{}{"dynamodb:LeadingKeys": []string{"#*"}}},
	}))
	if len(heldActions) > 0 {
		p.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(heldActions...), Resources: jsii.Strings(tableArn),
			Conditions: &map[string]interface{}{"ForAllValues:StringLike": map[string]interface{}{"dynamodb:LeadingKeys": []string{evaluator.HeldPrefix + "*"}}},
		}))
	}
	p.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:    jsii.String("NoWritesOutsideAlarmState"),
		Effect: awsiam.Effect_DENY, Actions: jsii.Strings(TableWrites...), Resources: jsii.Strings(tableArn),
		Conditions: &map[string]interface{}{"ForAnyValue:StringLike": map[string]interface{}{"dynamodb:LeadingKeys": ProtectedPartitions}},
	}))
}
