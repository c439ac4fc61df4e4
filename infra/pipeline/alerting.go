package pipeline

import (
	"math"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Alerting is the hot path: the evaluate function, its table, the alerts topic, and the
// delivery of every alert into the lake.
type Alerting struct {
	constructs.Construct
	Table      awsdynamodb.Table
	Topic      awssns.Topic
	TopicKey   awskms.Key
	Evaluate   awslambda.Function
	OnFailure  awssqs.Queue // batches the event source mapping gave up on
	LakeDLQ    awssqs.Queue // alerts SNS could not deliver to the lake
	Alerts     awskinesisfirehose.CfnDeliveryStream
	AlertsName *string
}

// AlertingProps wires alerting to the rest.
type AlertingProps struct {
	Stream       awskinesis.IStream
	Lake         *Lake
	FunctionsDir string
	BatchSize    float64
	// Capacity, when set, makes the table provisioned with auto scaling instead of on demand.
	Capacity *TableCapacity
}

// TableCapacity is the range auto scaling keeps the table's (and its due index's) capacity in,
// in units a second. Reads and writes scale apart, each to keep 70% of what is provisioned in
// use (Application Auto Scaling's target tracking).
type TableCapacity struct {
	MinReads, MaxReads, MinWrites, MaxWrites float64
}

// TargetUtilization is the share of provisioned capacity auto scaling keeps in use (percent):
// DynamoDB's default, room for a minute's rise before a scale-out (docs/cost.md).
const TargetUtilization = 70

// IndexMinWrites is the due index's least write capacity: 0.4 units for each table write (a
// device that reports every minute moves its due time one write in five, 2 units each), at least 1.
func (c TableCapacity) IndexMinWrites() float64 {
	return math.Max(1, math.Ceil(c.MinWrites*2/5))
}

// NewAlerting builds the evaluate function and what it reads and writes.
func NewAlerting(scope constructs.Construct, id string, p *AlertingProps) *Alerting {
	c := constructs.NewConstruct(scope, jsii.String(id))
	a := &Alerting{Construct: c}

	tp := &awsdynamodb.TableProps{
		PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String(table.PK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:                          &awsdynamodb.Attribute{Name: jsii.String(table.SK), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		DeletionProtection:               jsii.Bool(true),
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
	}
	// The due index: the devices with a silence or a silence reminder to come, by when, so that a
	// silence check reads what is due and never scans (keys only: it needs the device ids).
	gsi := &awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(table.DueIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(table.DueShardAttr), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(table.DueAtAttr), Type: awsdynamodb.AttributeType_NUMBER},
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	}
	if cp := p.Capacity; cp != nil {
		tp.BillingMode = awsdynamodb.BillingMode_PROVISIONED
		tp.ReadCapacity, tp.WriteCapacity = jsii.Number(cp.MinReads), jsii.Number(cp.MinWrites)
		gsi.ReadCapacity, gsi.WriteCapacity = jsii.Number(1), jsii.Number(cp.IndexMinWrites())
	}
	a.Table = awsdynamodb.NewTable(c, jsii.String("Table"), tp)
	a.Table.AddGlobalSecondaryIndex(gsi)
	if cp := p.Capacity; cp != nil {
		// The index takes 2 writes for each state write that moves a device's due time (one in
		// five, docs/cost.md: 0.4 a reading) and the silence check's 16 Queries a minute.
		scale := func(attr awsdynamodb.IScalableTableAttribute) {
			attr.ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(TargetUtilization)})
		}
		reads := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(cp.MinReads), MaxCapacity: jsii.Number(cp.MaxReads)}
		writes := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(cp.MinWrites), MaxCapacity: jsii.Number(cp.MaxWrites)}
		scale(a.Table.AutoScaleReadCapacity(reads))
		scale(a.Table.AutoScaleWriteCapacity(writes))
		scale(a.Table.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(table.DueIndex),
			&awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(1), MaxCapacity: jsii.Number(cp.MaxReads)}))
		scale(a.Table.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(table.DueIndex),
			&awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(cp.IndexMinWrites()), MaxCapacity: jsii.Number(cp.MaxWrites)}))
	}

	// The topic is encrypted with a customer managed key: SNS must be able to use it for the
	// Firehose subscription, which the AWS managed SNS key does not allow.
	a.TopicKey = awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description: jsii.String("iotwatch alerts topic"), EnableKeyRotation: jsii.Bool(true), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	a.Topic = awssns.NewTopic(c, jsii.String("Alerts"), &awssns.TopicProps{
		DisplayName: jsii.String("iotwatch alerts"),
		MasterKey:   a.TopicKey,
		EnforceSSL:  jsii.Bool(true),
	})

	a.OnFailure = deadLetterQueue(c, "EvaluateOnFailure")
	a.Evaluate = goFunction(c, "Evaluate", "evaluate", p.FunctionsDir, "iotwatch: evaluate readings against thresholds, publish alerts", 512, 60,
		map[string]*string{
			fnenv.TableName:       a.Table.TableName(),
			fnenv.AlertsTopicARN:  a.Topic.TopicArn(),
			fnenv.LakeBucket:      p.Lake.Bucket.BucketName(),
			fnenv.CacheTTL:        jsii.String(evaluator.DefaultConfig.CacheTTL.String()),
			fnenv.LoadConcurrency: jsii.String(strconv.Itoa(evaluator.DefaultConfig.LoadConcurrency)),
		})
	// Least privilege: the DynamoDB calls it makes, publish, and the quarantine prefix and
	// the rejections index only.
	allow(a.Evaluate, []string{"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:GetItem"}, *a.Table.TableArn())
	// Writes: a device's state (conditional PutItem), people's held alerts and digest markers.
	allowStateWrites(a.Evaluate, *a.Table.TableArn(), []string{"dynamodb:PutItem"}, []string{"dynamodb:PutItem", "dynamodb:BatchWriteItem"})
	allow(a.Evaluate, []string{"sns:Publish"}, *a.Topic.TopicArn())
	allow(a.Evaluate, []string{"kms:GenerateDataKey", "kms:Decrypt"}, *a.TopicKey.KeyArn())
	allow(a.Evaluate, []string{"s3:PutObject"}, objects(p.Lake.Bucket, lake.Quarantine), objects(p.Lake.Bucket, lake.Rejections))
	a.Evaluate.AddEventSource(awslambdaeventsources.NewKinesisEventSource(p.Stream, &awslambdaeventsources.KinesisEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_LATEST,
		BatchSize:               jsii.Number(p.BatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(1)),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(10),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(MaxRecordAgeHours)),
		ParallelizationFactor:   jsii.Number(1),
		OnFailure:               awslambdaeventsources.NewSqsDlq(a.OnFailure),
	}))

	// Every alert into the lake: SNS -> Firehose -> alerts/dt=/hour=/ by alert_time.
	logStream := p.Lake.FirehoseLogs.AddStream(jsii.String("alerts"), nil)
	fhRole := firehoseRole(c, "AlertsDeliveryRole", "Firehose: write the lake's alerts and errors prefixes")
	writeObjects(fhRole, p.Lake.Bucket, lake.Alerts, lake.Errors)
	firehoseBucketAccess(fhRole, p.Lake.Bucket)
	allow(fhRole, []string{"logs:PutLogEvents"}, *p.Lake.FirehoseLogs.LogGroupArn()+":log-stream:*")
	a.Alerts = awskinesisfirehose.NewCfnDeliveryStream(c, jsii.String("AlertsDelivery"), &awskinesisfirehose.CfnDeliveryStreamProps{
		DeliveryStreamType: jsii.String("DirectPut"),
		DeliveryStreamEncryptionConfigurationInput: &awskinesisfirehose.CfnDeliveryStream_DeliveryStreamEncryptionConfigurationInputProperty{
			KeyType: jsii.String("AWS_OWNED_CMK"),
		},
		ExtendedS3DestinationConfiguration: partitionedS3(p.Lake, fhRole, lake.Alerts, "alert_time", logStream.LogStreamName(), false),
	})
	a.Alerts.Node().AddDependency(fhRole)
	a.AlertsName = a.Alerts.Ref()
	// SNS assumes it for this topic only.
	subRole := awsiam.NewRole(c, jsii.String("AlertsSubscriptionRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": *awscdk.Stack_Of(c).Account()},
			"ArnEquals":    map[string]interface{}{"aws:SourceArn": *a.Topic.TopicArn()},
		}}),
		Description: jsii.String("SNS: deliver alerts to the alerts Firehose"),
	})
	subRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("firehose:DescribeDeliveryStream", "firehose:ListDeliveryStreams", "firehose:ListTagsForDeliveryStream", "firehose:PutRecord", "firehose:PutRecordBatch"),
		Resources: jsii.Strings(*a.Alerts.AttrArn()),
	}))
	// Alerts SNS could not hand to Firehose wait here (alarmed) instead of being dropped.
	a.LakeDLQ = deadLetterQueue(c, "AlertsToLakeDLQ")
	awssns.NewSubscription(c, jsii.String("AlertsToLake"), &awssns.SubscriptionProps{
		Topic:               a.Topic,
		Protocol:            awssns.SubscriptionProtocol_FIREHOSE,
		Endpoint:            a.Alerts.AttrArn(),
		SubscriptionRoleArn: subRole.RoleArn(),
		RawMessageDelivery:  jsii.Bool(true),
		DeadLetterQueue:     a.LakeDLQ,
	})
	return a
}
