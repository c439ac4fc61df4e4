package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Checks adds the cdk-nag packs that every synth runs; an unsuppressed finding is an error that
// fails `cdk synth`.
func Checks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true), Reports: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewServerlessChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true), Reports: jsii.Bool(true)}), nil)
}

// why is one accepted finding: the rule, the reason, and (for IAM5) the exact findings it covers,
// each a regular expression anchored on both ends.
type why struct {
	id, reason string
	appliesTo  []string
}

func nag(c constructs.IConstruct, ws ...why) {
	list := make([]*cdknag.NagPackSuppression, len(ws))
	for i, w := range ws {
		list[i] = &cdknag.NagPackSuppression{Id: jsii.String(w.id), Reason: jsii.String(w.reason)}
		if len(w.appliesTo) > 0 {
			applies := make([]interface{}, len(w.appliesTo))
			for j, a := range w.appliesTo {
				applies[j] = &cdknag.RegexAppliesTo{Regex: jsii.String("/^" + a + "$/")}
			}
			list[i].AppliesTo = &applies
		}
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &list, jsii.Bool(true))
}

// Patterns of the IAM5 findings accepted below.
const (
	xray               = `Resource::\*`                                               // X-Ray has no resource-level permissions
	logStreams         = `Resource::<[A-Za-z0-9]+Logs[0-9A-F]{8}\.Arn>:log-stream:\*` // the streams of the function's own log group
	firehoseLogStreams = `Resource::<LakeFirehoseLogs[0-9A-F]{8}\.Arn>:log-stream:\*`
)

func objectsIn(bucket, prefix string) string {
	return `Resource::<Lake` + bucket + `[0-9A-F]{8}\.Arn>/` + prefix + `/\*`
}

// suppress records every accepted finding, each with its reason and the exact resources it covers.
func suppress(s *Stack) {
	dlq := func(q constructs.IConstruct, of string) {
		nag(q,
			why{"AwsSolutions-SQS3", "This queue is itself the dead-letter destination of " + of + "; it is alarmed when not empty.", nil},
			why{"Serverless-SQSRedrivePolicy", "This queue is itself the dead-letter destination of " + of + "; nothing consumes it automatically.", nil})
	}
	dlq(s.Alerting.OnFailure, "the evaluate function's Kinesis event source mapping")
	dlq(s.Lake.BronzeOnFailure, "the bronze function's Kinesis event source mapping")
	dlq(s.Alerting.LakeDLQ, "the alerts topic's subscription to the lake's Firehose")
	dlq(s.Aggregation.OnFailure, "the aggregate function's asynchronous invocations and its schedule")
	dlq(s.Silence.OnFailure, "the silence function's asynchronous invocations and its schedule")
	dlq(s.Notify.OnFailure, "the notify function's asynchronous invocations and of its subscription to the alerts topic")
	dlq(s.Notify.DeadLetters, "the notify function's deliveries (what a channel refused or never answered)")
	dlq(s.Ingestion.RuleErrors, "the IoT topic rule (its error action)")
	if q := s.Operations.Node().TryFindChild(jsii.String("EmailDLQ")); q != nil {
		dlq(q, "the operators' email subscription")
	}

	nag(s.Alerting.Evaluate,
		why{"Serverless-LambdaDLQ", "Invoked synchronously by the Kinesis event source mapping, whose on-failure destination (an SQS queue) keeps failed batches; a function DLQ applies to asynchronous invocations only.", nil})
	nag(s.Alerting.Evaluate.Role(),
		why{"AwsSolutions-IAM5", "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) takes no resource; the log-stream wildcard is the streams of the function's own log group; the quarantine and rejections wildcards are the object keys under quarantine/ and rejections/, the only prefixes it writes.",
			[]string{xray, logStreams, objectsIn("Bucket", "quarantine"), objectsIn("Bucket", "rejections")}})
	nag(s.Lake.Forwarder,
		why{"Serverless-LambdaDLQ", "Invoked synchronously by the Kinesis event source mapping, whose on-failure destination (an SQS queue) keeps failed batches; a function DLQ applies to asynchronous invocations only.", nil})
	nag(s.Lake.Forwarder.Role(),
		why{"AwsSolutions-IAM5", "X-Ray tracing takes no resource; the log-stream wildcard is the streams of the function's own log group; the bronze wildcard is the object keys under bronze/, where it writes a batched message into the hours of its elements.", []string{xray, logStreams, objectsIn("Bucket", "bronze")}})
	nag(s.Aggregation.Function,
		why{"Serverless-LambdaDLQ", "Its asynchronous invocations have an on-failure destination (an SQS queue, alarmed), which Lambda recommends over a DLQ.", nil})
	nag(s.Aggregation.Function.Role(),
		why{"AwsSolutions-IAM5", "X-Ray takes no resource; the log-stream wildcard is its own log group's streams; Athena reads and writes with the caller's permissions the object keys under bronze/, alerts/, rejections/ and devices/ (read), silver/ and gold/ (the Iceberg tables) and the workgroup's results/ prefix.",
			[]string{xray, logStreams, objectsIn("Bucket", "bronze"), objectsIn("Bucket", "alerts"), objectsIn("Bucket", "rejections"), objectsIn("Bucket", "devices"),
				objectsIn("Bucket", "silver"), objectsIn("Bucket", "gold"), objectsIn("AthenaResults", "results")}})
	nag(s.Grafana.Policy,
		why{"AwsSolutions-IAM5", "CloudWatch's GetMetricData, ListMetrics, GetMetricStatistics and DescribeAlarm* take no resource; the table wildcard is the tables of the stack's own Glue database; the object wildcards are the keys under the lake's bronze/, alerts/, silver/, gold/, rejections/ and devices/ (read only) and the workgroup's results/ prefix (Athena writes a query's results with the caller's permissions).",
			[]string{xray, `Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/[a-z0-9_]+/\*`, objectsIn("Bucket", "bronze"), objectsIn("Bucket", "alerts"),
				objectsIn("Bucket", "gold"), objectsIn("Bucket", "silver"), objectsIn("Bucket", "rejections"), objectsIn("Bucket", "devices"), objectsIn("AthenaResults", "results")}})
	nag(s.Silence.Function,
		why{"Serverless-LambdaDLQ", "Its asynchronous invocations have an on-failure destination (an SQS queue, alarmed), which Lambda recommends over a DLQ.", nil})
	nag(s.Silence.Function.Role(),
		why{"AwsSolutions-IAM5", "X-Ray takes no resource; the log-stream wildcard is its own log group's streams.", []string{xray, logStreams}})
	nag(s.Notify.Function,
		why{"Serverless-LambdaDLQ", "Its asynchronous invocations have an on-failure destination (an SQS queue, alarmed), which Lambda recommends over a DLQ.", nil})
	nag(s.Notify.Function.Role(),
		why{"AwsSolutions-IAM5", "X-Ray takes no resource; the log-stream wildcard is its own log group's streams.", []string{xray, logStreams}})
	nag(s.Links.Function,
		why{"Serverless-LambdaDLQ", "Invoked synchronously by its function URL (a person's browser), which gets the answer; there is no asynchronous invocation to keep.", nil})
	nag(s.Links.Function.Role(),
		why{"AwsSolutions-IAM5", "X-Ray takes no resource; the log-stream wildcard is its own log group's streams.", []string{xray, logStreams}})
	nag(s.Links.Secret,
		why{"AwsSolutions-SMG4", "Rotating the links' key would break every link sent in the 7 days before; it is 64 random characters generated at deploy, readable only by the three functions that sign or check links.", nil})
	for _, role := range []constructs.IConstruct{s.Lake.Node().FindChild(jsii.String("BronzeRole")), s.Alerting.Node().FindChild(jsii.String("AlertsDeliveryRole"))} {
		nag(role, why{"AwsSolutions-IAM5", "Firehose writes object keys it names itself (dynamic partitions) under its own prefix and errors/, and its log streams in its log group.",
			[]string{objectsIn("Bucket", "bronze"), objectsIn("Bucket", "alerts"), objectsIn("Bucket", "errors"), firehoseLogStreams}})
	}

	// The singleton Lambda behind AwsCustomResource (the IoT data endpoint lookup) is CDK's.
	nag(s.Ingestion.Node().FindChild(jsii.String("DataEndpoint")),
		why{"AwsSolutions-IAM5", "iot:DescribeEndpoint takes no resource (it reads the account's endpoint).", []string{xray}})
	if provider := s.Stack.Node().TryFindChild(jsii.String("AWS679f53fac002430cb0da5b7982bd2287")); provider != nil {
		nag(provider,
			why{"AwsSolutions-IAM4", "CDK's AwsCustomResource provider uses AWSLambdaBasicExecutionRole for its own logs; it runs once per deployment.", []string{`Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`}},
			why{"Serverless-LambdaDLQ", "CDK's AwsCustomResource provider is invoked by CloudFormation, which reports its failures itself.", nil},
			why{"Serverless-LambdaDefaultMemorySize", "CDK's AwsCustomResource provider: one small SDK call per deployment.", nil},
			why{"AwsSolutions-L1", "CDK's AwsCustomResource provider picks its Node.js runtime; it is upgraded with aws-cdk-lib.", nil},
			why{"Serverless-LambdaTracing", "CDK's AwsCustomResource provider: one SDK call per deployment, nothing to trace.", nil})
	}
}
