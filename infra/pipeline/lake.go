package pipeline

import (
	"encoding/base64"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
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
	// Forwarder is the bronze function: it reads the stream and puts its records on Bronze, 500
	// to a Firehose record (firehosebronze); BronzeOnFailure keeps the batches it gave up on.
	Forwarder       awslambda.Function
	BronzeOnFailure awssqs.Queue
}

// LakeProps configures the lake.
type LakeProps struct {
	// Name names the Glue database and the Athena workgroup (lowercase, letters, digits, _).
	Name   string
	Stream awskinesis.IStream
	// BytesScannedCutoff bounds one Athena query (bytes).
	BytesScannedCutoff float64
	FunctionsDir       string
}

// NewLake builds the lake, the bronze delivery stream and the function that feeds it from the
// readings stream.
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
		// Emptied when the stack deletes it (CDK's auto-delete custom resource), so that `make
		// destroy` (and a delete from the console) succeeds: a bucket with objects cannot be
		// deleted, and the results are query outputs that expire in 30 days anyway. The lake
		// bucket and the access logs are kept (RETAIN) and never emptied.
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})

	// Bronze: the bronze function reads the stream and puts its records on Firehose, many to a
	// Firehose record (Firehose bills 5 KB a record: read by Firehose, each reading was one);
	// Firehose splits them again and writes each, unchanged, gzip JSON lines, partitioned by the
	// UTC hour of event_time; records it cannot partition go to errors/.
	l.FirehoseLogs = awslogs.NewLogGroup(c, jsii.String("FirehoseLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	bronzeLog := l.FirehoseLogs.AddStream(jsii.String("bronze"), nil)
	role := firehoseRole(c, "BronzeRole", "Firehose: write the lake's bronze and errors prefixes")
	writeObjects(role, l.Bucket, lake.Bronze, lake.Errors)
	firehoseBucketAccess(role, l.Bucket)
	allow(role, []string{"logs:PutLogEvents"}, *l.FirehoseLogs.LogGroupArn()+":log-stream:*")
	l.Bronze = awskinesisfirehose.NewCfnDeliveryStream(c, jsii.String("Bronze"), &awskinesisfirehose.CfnDeliveryStreamProps{
		DeliveryStreamType: jsii.String("DirectPut"),
		DeliveryStreamEncryptionConfigurationInput: &awskinesisfirehose.CfnDeliveryStream_DeliveryStreamEncryptionConfigurationInputProperty{
			KeyType: jsii.String("AWS_OWNED_CMK"),
		},
		ExtendedS3DestinationConfiguration: partitionedS3(l, role, lake.Bronze, "event_time", bronzeLog.LogStreamName(), true),
	})
	l.Bronze.Node().AddDependency(role)
	l.BronzeName = l.Bronze.Ref()

	l.BronzeOnFailure = deadLetterQueue(c, "BronzeOnFailure")
	l.Forwarder = goFunction(c, "Forwarder", "bronze", p.FunctionsDir, "iotwatch: forward the readings stream to the bronze Firehose stream", 256, 120,
		map[string]*string{fnenv.BronzeStream: l.BronzeName, fnenv.LakeBucket: l.Bucket.BucketName()})
	allow(l.Forwarder, []string{"firehose:PutRecordBatch"}, *l.Bronze.AttrArn())
	// A batched message whose elements fall in other hours than its first's is written into
	// those hours' bronze partitions too (firehosebronze.Spill): bronze only.
	allow(l.Forwarder, []string{"s3:PutObject"}, objects(l.Bucket, lake.Bronze))
	// Bronze has no latency target (the hourly job reads it; Firehose buffers 60 s more): large
	// batches fill Firehose records (Lambda's 6 MB event holds ~6,500 readings). It starts at the
	// oldest record the stream keeps: on a stack updated from the first edition, where Firehose
	// read the stream, the old delivery stream loses its read grant when the update begins,
	// minutes before this mapping exists, and what it buffered is not promised at its deletion;
	// from the oldest record, nothing of that is lost (the day comes twice in bronze, silver keeps
	// each reading once; evaluate shares the shard's reads while it catches up). A batch is
	// retried (no retry limit) until its records are 23 h old (MaxRecordAgeHours), then its place
	// goes to the on-failure queue while the stream still holds them, for an hour.
	l.Forwarder.AddEventSource(awslambdaeventsources.NewKinesisEventSource(p.Stream, &awslambdaeventsources.KinesisEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(10000),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(60)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(MaxRecordAgeHours)),
		ParallelizationFactor:   jsii.Number(1),
		OnFailure:               awslambdaeventsources.NewSqsDlq(l.BronzeOnFailure),
	}))

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
// deaggregate first splits each record at lake.RecordDelimiter (the bronze function's records).
func partitionedS3(l *Lake, role awsiam.IRole, prefix, field string, logStream *string, deaggregate bool) *awskinesisfirehose.CfnDeliveryStream_ExtendedS3DestinationConfigurationProperty {
	param := func(name, value string) *awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty {
		return &awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{ParameterName: jsii.String(name), ParameterValue: jsii.String(value)}
	}
	var processors []*awskinesisfirehose.CfnDeliveryStream_ProcessorProperty
	if deaggregate {
		processors = append(processors, &awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{Type: jsii.String("RecordDeAggregation"),
			Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
				param("SubRecordType", "DELIMITED"),
				param("Delimiter", base64.StdEncoding.EncodeToString([]byte(lake.RecordDelimiter))),
			}})
	}
	processors = append(processors,
		&awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{Type: jsii.String("MetadataExtraction"),
			Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
				param("MetadataExtractionQuery", lake.PartitionQuery(field)),
				param("JsonParsingEngine", "JQ-1.6"),
			}},
		&awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{Type: jsii.String("AppendDelimiterToRecord"),
			Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{param("Delimiter", "\\n")}})
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
			Enabled: jsii.Bool(true), Processors: &processors,
		},
		CloudWatchLoggingOptions: &awskinesisfirehose.CfnDeliveryStream_CloudWatchLoggingOptionsProperty{
			Enabled: jsii.Bool(true), LogGroupName: l.FirehoseLogs.LogGroupName(), LogStreamName: logStream,
		},
	}
}
