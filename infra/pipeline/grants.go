package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
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
