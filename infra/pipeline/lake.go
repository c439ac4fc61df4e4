package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// Lake is the data lake: buckets, the bronze Firehose, the Glue catalog and the Athena workgroup.
type Lake struct {
	constructs.Construct
	Bucket        awss3.Bucket // bronze/, quarantine/, rejections/, alerts/, gold/, errors/
	Results       awss3.Bucket // Athena query results
	Logs          awss3.Bucket // server access logs of the two above
	Bronze        awskinesisfirehose.CfnDeliveryStream
	BronzeName    *string
	Database      awsglue.CfnDatabase
	DatabaseName  *string
	WorkGroup     awsathena.CfnWorkGroup
	WorkGroupName *string
	FirehoseLogs  awslogs.LogGroup
}

// LakeProps configures the lake.
type LakeProps struct {
	// Name names the Glue database and the Athena workgroup (lowercase, letters, digits, _).
	Name   string
	Stream awskinesis.IStream
	// BytesScannedCutoff bounds one Athena query (bytes).
	BytesScannedCutoff float64
}

// NewLake builds the lake and the bronze delivery stream reading the readings stream.
func NewLake(scope constructs.Construct, id string, p *LakeProps) *Lake {
	c := constructs.NewConstruct(scope, jsii.String(id))
	l := &Lake{Construct: c}
	stack := awscdk.Stack_Of(c)

	l.Logs = awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_OBJECT_WRITER,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Id: jsii.String("expire-logs"), Expiration: awscdk.Duration_Days(jsii.Number(90))}},
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	l.Bucket = awss3.NewBucket(c, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: l.Logs,
		ServerAccessLogsPrefix: jsii.String("lake/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("bronze-to-cheaper-storage"), Prefix: jsii.String(lake.Bronze + "/"), Transitions: &[]*awss3.Transition{
				{StorageClass: awss3.StorageClass_INFREQUENT_ACCESS(), TransitionAfter: awscdk.Duration_Days(jsii.Number(30))},
				{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: awscdk.Duration_Days(jsii.Number(90))},
			}},
			{Id: jsii.String("expire-quarantine"), Prefix: jsii.String(lake.Quarantine + "/"), Expiration: awscdk.Duration_Days(jsii.Number(90))},
			{Id: jsii.String("expire-errors"), Prefix: jsii.String(lake.Errors + "/"), Expiration: awscdk.Duration_Days(jsii.Number(90))},
			{Id: jsii.String("abort-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7))},
		},
	})
	l.Results = awss3.NewBucket(c, jsii.String("AthenaResults"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: l.Logs,
		ServerAccessLogsPrefix: jsii.String("athena-results/"),
		LifecycleRules:         &[]*awss3.LifecycleRule{{Id: jsii.String("expire-results"), Expiration: awscdk.Duration_Days(jsii.Number(30))}},
		RemovalPolicy:          awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects:      jsii.Bool(false),
	})

	// Bronze: Firehose reads the stream and writes every record, unchanged, gzip JSON lines,
	// partitioned by the UTC hour of event_time; records it cannot partition go to errors/.
	l.FirehoseLogs = awslogs.NewLogGroup(c, jsii.String("FirehoseLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	bronzeLog := l.FirehoseLogs.AddStream(jsii.String("bronze"), nil)
	role := awsiam.NewRole(c, jsii.String("BronzeRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), nil),
		Description: jsii.String("Firehose: read the readings stream, write the lake's bronze and errors prefixes"),
	})
	p.Stream.GrantRead(role)
	writeObjects(role, l.Bucket, lake.Bronze, lake.Errors)
	firehoseBucketAccess(role, l.Bucket)
	allow(role, []string{"logs:PutLogEvents"}, *l.FirehoseLogs.LogGroupArn()+":log-stream:*")
	l.Bronze = awskinesisfirehose.NewCfnDeliveryStream(c, jsii.String("Bronze"), &awskinesisfirehose.CfnDeliveryStreamProps{
		DeliveryStreamType: jsii.String("KinesisStreamAsSource"),
		KinesisStreamSourceConfiguration: &awskinesisfirehose.CfnDeliveryStream_KinesisStreamSourceConfigurationProperty{
			KinesisStreamArn: p.Stream.StreamArn(), RoleArn: role.RoleArn(),
		},
		ExtendedS3DestinationConfiguration: partitionedS3(l, role, lake.Bronze, "event_time", bronzeLog.LogStreamName()),
	})
	l.Bronze.Node().AddDependency(role)
	l.BronzeName = l.Bronze.Ref()

	// Catalog: bronze as raw lines (the aggregation validates each line itself) and as typed
	// columns (for people), alerts, and the Iceberg table of hourly aggregates.
	l.DatabaseName = jsii.String(p.Name)
	l.Database = awsglue.NewCfnDatabase(c, jsii.String("Database"), &awsglue.CfnDatabaseProps{
		CatalogId:     stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{Name: l.DatabaseName, Description: jsii.String("iotwatch lake: readings, alerts, hourly aggregates")},
	})
	newTables(l)

	l.WorkGroupName = jsii.String(p.Name)
	l.WorkGroup = awsathena.NewCfnWorkGroup(c, jsii.String("WorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:                  l.WorkGroupName,
		Description:           jsii.String("iotwatch: enforced settings, encrypted results, bytes-scanned cutoff"),
		RecursiveDeleteOption: jsii.Bool(true),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			BytesScannedCutoffPerQuery:      jsii.Number(p.BytesScannedCutoff),
			EngineVersion:                   &awsathena.CfnWorkGroup_EngineVersionProperty{SelectedEngineVersion: jsii.String("Athena engine version 3")},
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation:          jsii.String("s3://" + *l.Results.BucketName() + "/results/"),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{EncryptionOption: jsii.String("SSE_S3")},
			},
		},
	})
	newNamedQueries(l)
	return l
}

// partitionedS3 is the Firehose destination shared by bronze and alerts: dynamic partitioning on
// the UTC hour of a time field (the JQ of shared/contract/lake), a newline after each record, gzip.
func partitionedS3(l *Lake, role awsiam.IRole, prefix, field string, logStream *string) *awskinesisfirehose.CfnDeliveryStream_ExtendedS3DestinationConfigurationProperty {
	return &awskinesisfirehose.CfnDeliveryStream_ExtendedS3DestinationConfigurationProperty{
		BucketArn:         l.Bucket.BucketArn(),
		RoleArn:           role.RoleArn(),
		Prefix:            jsii.String(prefix + "/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/"),
		ErrorOutputPrefix: jsii.String(lake.Errors + "/" + prefix + "/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"),
		CompressionFormat: jsii.String("GZIP"),
		FileExtension:     jsii.String(".json.gz"),
		// dynamic partitioning needs at least 64 MiB; 60 s keeps bronze fresh for the hourly job
		BufferingHints: &awskinesisfirehose.CfnDeliveryStream_BufferingHintsProperty{IntervalInSeconds: jsii.Number(60), SizeInMBs: jsii.Number(64)},
		DynamicPartitioningConfiguration: &awskinesisfirehose.CfnDeliveryStream_DynamicPartitioningConfigurationProperty{
			Enabled: jsii.Bool(true),
		},
		ProcessingConfiguration: &awskinesisfirehose.CfnDeliveryStream_ProcessingConfigurationProperty{
			Enabled: jsii.Bool(true),
			Processors: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{
				{Type: jsii.String("MetadataExtraction"), Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
					{ParameterName: jsii.String("MetadataExtractionQuery"), ParameterValue: jsii.String(lake.PartitionQuery(field))},
					{ParameterName: jsii.String("JsonParsingEngine"), ParameterValue: jsii.String("JQ-1.6")},
				}},
				{Type: jsii.String("AppendDelimiterToRecord"), Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
					{ParameterName: jsii.String("Delimiter"), ParameterValue: jsii.String("\\n")},
				}},
			},
		},
		CloudWatchLoggingOptions: &awskinesisfirehose.CfnDeliveryStream_CloudWatchLoggingOptionsProperty{
			Enabled: jsii.Bool(true), LogGroupName: l.FirehoseLogs.LogGroupName(), LogStreamName: logStream,
		},
	}
}
