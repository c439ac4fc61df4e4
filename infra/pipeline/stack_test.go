package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/notifylambda"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/contract/topic"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// One synthesis per test binary: the template and the cdk-nag findings every test reads.
var (
	template assertions.Template
	tmpl     map[string]any // the same template as plain JSON
	findings []string       // cdk-nag errors, "path: message"
	warnings []string
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	os.Setenv("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
	code := func() int {
		defer jsii.Close()
		dir, err := os.MkdirTemp("", "iotwatch-functions")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		for _, f := range []string{"evaluate", "bronze", "aggregate", "silence", "links", "notify"} {
			os.MkdirAll(filepath.Join(dir, f), 0o755)
			os.WriteFile(filepath.Join(dir, f, "bootstrap"), []byte("placeholder for "+f), 0o755)
		}
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
		s := NewStack(app, "iotwatch", &Props{FunctionsDir: dir, Shards: 2, BatchSize: 500, BytesScannedCutoff: 10e9, AlarmEmail: "ops@example.com", Heartbeat: 1})
		Checks(app)
		app.Synth(nil)
		template = assertions.Template_FromStack(s.Stack, nil)
		b, _ := json.Marshal(template.ToJSON())
		json.Unmarshal(b, &tmpl)
		ann := assertions.Annotations_FromStack(s.Stack)
		for _, e := range *ann.FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			//lint:ignore SA1019 the Go binding of Annotations offers no other message type
			findings = append(findings, fmt.Sprintf("%s: %v", *e.Id, e.Entry.Data))
		}
		for _, e := range *ann.FindWarning(jsii.String("*"), assertions.Match_AnyValue()) {
			//lint:ignore SA1019 the Go binding of Annotations offers no other message type
			warnings = append(warnings, fmt.Sprintf("%s: %v", *e.Id, e.Entry.Data))
		}
		sort.Strings(findings)
		return m.Run()
	}()
	os.Exit(code)
}

func TestNagHasNoErrors(t *testing.T) {
	if len(findings) > 0 {
		t.Errorf("%d unsuppressed cdk-nag errors:\n%s", len(findings), strings.Join(findings, "\n"))
	}
}

// resources returns the template's resources of a type.
func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			props, _ := rm["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

func has(t *testing.T, typ string, props map[string]any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s with %v: %v", typ, props, r)
		}
	}()
	template.HasResourceProperties(jsii.String(typ), props)
}

func TestIngestion(t *testing.T) {
	has(t, "AWS::IoT::TopicRule", map[string]any{"TopicRulePayload": map[string]any{
		"Sql": topic.RuleSQL, "AwsIotSqlVersion": "2016-03-23", "RuleDisabled": false,
		"Actions":     []any{map[string]any{"Kinesis": assertions.Match_ObjectLike(&map[string]any{"PartitionKey": "${topic(2)}"})}},
		"ErrorAction": map[string]any{"Sqs": assertions.Match_ObjectLike(&map[string]any{"UseBase64": false})},
	}})
	has(t, "AWS::Kinesis::Stream", map[string]any{"ShardCount": 2, "StreamEncryption": map[string]any{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
		"StreamModeDetails": map[string]any{"StreamMode": "PROVISIONED"}, "RetentionPeriodHours": 24})
	policies := resources("AWS::IoT::Policy")
	if len(policies) != 1 {
		t.Fatalf("%d IoT policies", len(policies))
	}
	for _, p := range policies {
		doc, _ := json.Marshal(p["PolicyDocument"])
		for _, want := range []string{`"Action":"iot:Connect"`, `client/${iot:Connection.Thing.ThingName}`, `"Action":"iot:Publish"`,
			`topic/devices/${iot:Connection.Thing.ThingName}/readings`, `iot:Connection.Thing.IsAttached`,
			`:topic/$aws/rules/",{"Ref":"IngestionRule`, `"},"/devices/${iot:Connection.Thing.ThingName}/readings"`} {
			if !strings.Contains(string(doc), want) {
				t.Errorf("device policy lacks %s: %s", want, doc)
			}
		}
		if strings.Contains(string(doc), `"iot:*"`) || strings.Contains(string(doc), "Subscribe") || strings.Count(string(doc), `"Effect"`) != 2 {
			t.Errorf("device policy allows more than connecting as itself and publishing its readings: %s", doc)
		}
	}
}

func TestAlerting(t *testing.T) {
	has(t, "AWS::Lambda::Function", map[string]any{"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"TABLE_NAME": assertions.Match_AnyValue(),
			"ALERTS_TOPIC_ARN": assertions.Match_AnyValue(), "LAKE_BUCKET": assertions.Match_AnyValue()})},
		"TracingConfig": map[string]any{"Mode": "Active"}})
	has(t, "AWS::Lambda::EventSourceMapping", map[string]any{
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 10,
		"MaximumRecordAgeInSeconds": MaxRecordAgeHours * 3600, "BatchSize": 500, "StartingPosition": "LATEST", "ParallelizationFactor": 1,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}}})
	has(t, "AWS::DynamoDB::Table", map[string]any{"BillingMode": "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true}, "SSESpecification": map[string]any{"SSEEnabled": true},
		"KeySchema": []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}, map[string]any{"AttributeName": "sk", "KeyType": "RANGE"}},
		"GlobalSecondaryIndexes": []any{map[string]any{"IndexName": "due", "Projection": map[string]any{"ProjectionType": "KEYS_ONLY"},
			"KeySchema": []any{map[string]any{"AttributeName": "due_shard", "KeyType": "HASH"}, map[string]any{"AttributeName": "due_at", "KeyType": "RANGE"}}}}})
	has(t, "AWS::SNS::Topic", map[string]any{"DisplayName": "iotwatch alerts", "KmsMasterKeyId": assertions.Match_AnyValue()})
	has(t, "AWS::SNS::TopicPolicy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny",
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}})})})})
	has(t, "AWS::SNS::Subscription", map[string]any{"Protocol": "firehose", "RawMessageDelivery": true,
		"SubscriptionRoleArn": assertions.Match_AnyValue(), "RedrivePolicy": assertions.Match_AnyValue()})
	has(t, "AWS::KinesisFirehose::DeliveryStream", map[string]any{"DeliveryStreamType": "DirectPut",
		"ExtendedS3DestinationConfiguration": assertions.Match_ObjectLike(&map[string]any{"Prefix": "alerts/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/"})})
}

func TestLake(t *testing.T) {
	buckets := resources("AWS::S3::Bucket")
	if len(buckets) != 3 {
		t.Errorf("%d buckets; want lake, Athena results, access logs", len(buckets))
	}
	for id, b := range buckets {
		pab, _ := json.Marshal(b["PublicAccessBlockConfiguration"])
		if strings.Count(string(pab), "true") != 4 {
			t.Errorf("%s: public access not blocked: %s", id, pab)
		}
		if b["BucketEncryption"] == nil || b["LifecycleConfiguration"] == nil {
			t.Errorf("%s: encryption or lifecycle missing", id)
		}
		if !strings.Contains(id, "AccessLogs") && b["LoggingConfiguration"] == nil {
			t.Errorf("%s: no access logs", id)
		}
	}
	tlsOnly := 0
	for _, p := range resources("AWS::S3::BucketPolicy") {
		if doc, _ := json.Marshal(p["PolicyDocument"]); strings.Contains(string(doc), `"aws:SecureTransport":"false"`) {
			tlsOnly++
		}
	}
	if tlsOnly != 3 {
		t.Errorf("%d buckets deny plain HTTP; want 3", tlsOnly)
	}
	// Bronze: Direct PUT by the bronze function, whose records Firehose splits at the newline
	// first (RecordDeAggregation), then partitions each by hour, then ends with a newline again.
	has(t, "AWS::KinesisFirehose::DeliveryStream", map[string]any{"DeliveryStreamType": "DirectPut",
		"DeliveryStreamEncryptionConfigurationInput": map[string]any{"KeyType": "AWS_OWNED_CMK"},
		"ExtendedS3DestinationConfiguration": assertions.Match_ObjectLike(&map[string]any{
			"Prefix":                           "bronze/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/",
			"ErrorOutputPrefix":                "errors/bronze/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
			"CompressionFormat":                "GZIP",
			"DynamicPartitioningConfiguration": map[string]any{"Enabled": true},
			"ProcessingConfiguration": map[string]any{"Enabled": true, "Processors": []any{
				map[string]any{"Type": "RecordDeAggregation", "Parameters": []any{
					map[string]any{"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"},
					map[string]any{"ParameterName": "Delimiter", "ParameterValue": "Cg=="}}}, // base64 of "\n"
				map[string]any{"Type": "MetadataExtraction", "Parameters": []any{
					map[string]any{"ParameterName": "MetadataExtractionQuery", "ParameterValue": lake.PartitionQuery("event_time")},
					map[string]any{"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}}},
				map[string]any{"Type": "AppendDelimiterToRecord", "Parameters": []any{
					map[string]any{"ParameterName": "Delimiter", "ParameterValue": "\\n"}}},
			}},
		})})
	// The alerts stream is fed by SNS, one alert a record: nothing to split.
	has(t, "AWS::KinesisFirehose::DeliveryStream", map[string]any{"DeliveryStreamType": "DirectPut",
		"ExtendedS3DestinationConfiguration": assertions.Match_ObjectLike(&map[string]any{
			"Prefix": "alerts/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/",
			"ProcessingConfiguration": map[string]any{"Enabled": true, "Processors": []any{
				assertions.Match_ObjectLike(&map[string]any{"Type": "MetadataExtraction"}),
				assertions.Match_ObjectLike(&map[string]any{"Type": "AppendDelimiterToRecord"})}},
		})})
	// The bronze function: every record of the stream, from the oldest kept, retried until it
	// leaves the stream, then its place in the on-failure queue; allowed to put on bronze only.
	has(t, "AWS::Lambda::EventSourceMapping", map[string]any{
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "BatchSize": 10000, "MaximumBatchingWindowInSeconds": 60,
		"StartingPosition": "TRIM_HORIZON", "MaximumRetryAttempts": assertions.Match_Absent(), "MaximumRecordAgeInSeconds": MaxRecordAgeHours * 3600,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}}})
	has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Action": "firehose:PutRecordBatch", "Resource": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^LakeBronze")), "Arn"}}})})})})
	tables := map[string]map[string]any{}
	for _, tb := range resources("AWS::Glue::Table") {
		ti := tb["TableInput"].(map[string]any)
		tables[ti["Name"].(string)] = tb
	}
	for _, name := range []string{"bronze_lines", "bronze_readings", "alerts", "rejections"} {
		ti, ok := tables[name]["TableInput"].(map[string]any)
		if !ok {
			t.Errorf("no Glue table %s", name)
			continue
		}
		params := ti["Parameters"].(map[string]any)
		if params["projection.enabled"] != "true" || params["projection.dt.type"] != "date" || params["projection.hour.digits"] != "2" {
			t.Errorf("%s: partition projection = %v", name, params)
		}
	}
	// No Iceberg table in the template: a stack update would rewrite it and lose its
	// metadata_location (the aggregate function creates them with DDL: aggregate.TableStatements).
	for name, tb := range tables {
		if tb["OpenTableFormatInput"] != nil || strings.Contains(fmt.Sprint(tb), "ICEBERG") {
			t.Errorf("Glue table %s is an Iceberg table in the template", name)
		}
		if _, iceberg := map[string]bool{"silver_readings": true, "hourly_metrics": true, "daily_metrics": true, "dq_hourly": true, "location_hourly": true}[name]; iceberg {
			t.Errorf("Glue table %s is in the template", name)
		}
	}
	if tables["devices"] == nil {
		t.Errorf("no Glue table devices")
	}
	has(t, "AWS::Athena::WorkGroup", map[string]any{"WorkGroupConfiguration": assertions.Match_ObjectLike(&map[string]any{
		"EnforceWorkGroupConfiguration": true, "BytesScannedCutoffPerQuery": 10e9,
		"ResultConfiguration": assertions.Match_ObjectLike(&map[string]any{"EncryptionConfiguration": map[string]any{"EncryptionOption": "SSE_S3"}}),
	})})
	if n := len(resources("AWS::Athena::NamedQuery")); n != 4 {
		t.Errorf("%d named queries; want 4", n)
	}
}

func TestAggregation(t *testing.T) {
	has(t, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "cron(5 * * * ? *)",
		"Targets": []any{assertions.Match_ObjectLike(&map[string]any{"DeadLetterConfig": assertions.Match_AnyValue(),
			"RetryPolicy": map[string]any{"MaximumRetryAttempts": 2}})}})
	has(t, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "cron(35 3 * * ? *)", // the daily Iceberg maintenance
		"Targets": []any{assertions.Match_ObjectLike(&map[string]any{"Input": aggregate.MaintainPayload, "DeadLetterConfig": assertions.Match_AnyValue(),
			"RetryPolicy": map[string]any{"MaximumRetryAttempts": 2}})}})
	has(t, "AWS::Lambda::EventInvokeConfig", map[string]any{"MaximumRetryAttempts": 2,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}}})
	// one aggregation at a time (a backfill overlapping the schedule doubled an hour): a lease in
	// the table, on its own key only; no reserved concurrency (a new account's quota refuses it)
	has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"Action": []any{"dynamodb:PutItem", "dynamodb:DeleteItem"},
			"Condition": map[string]any{"ForAllValues:StringEquals": map[string]any{"dynamodb:LeadingKeys": []any{"#LOCK"}}}})})})})
	for id, fn := range resources("AWS::Lambda::Function") {
		if fn["ReservedConcurrentExecutions"] != nil {
			t.Errorf("function %s reserves concurrency: a new account's quota of 10 refuses it", id)
		}
	}
	has(t, "AWS::Lambda::Function", map[string]any{"Timeout": 900, "Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
		"TABLE_NAME":       assertions.Match_AnyValue(),
		"ATHENA_WORKGROUP": "iotwatch", "GLUE_DATABASE": "iotwatch", "LAKE_BUCKET": assertions.Match_AnyValue()})}})
}

// TestSilence: the check runs every minute, with no retry of its own (the next minute is the
// retry), its failures kept in an alarmed queue, and its permissions exactly the index Query, the
// due devices' reads and state writes, and publishing.
func TestSilence(t *testing.T) {
	has(t, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "rate(1 minute)",
		"Targets": []any{assertions.Match_ObjectLike(&map[string]any{"DeadLetterConfig": assertions.Match_AnyValue(),
			"RetryPolicy": map[string]any{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 120}})}})
	has(t, "AWS::Lambda::EventInvokeConfig", map[string]any{"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 120,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}}})
	has(t, "AWS::Lambda::Function", map[string]any{"Timeout": SilenceTimeoutSeconds, "Handler": "bootstrap", "Architectures": []any{"arm64"},
		"Environment": map[string]any{"Variables": map[string]any{
			fnenv.TableName: assertions.Match_AnyValue(), fnenv.AlertsTopicARN: assertions.Match_AnyValue(), fnenv.LoadConcurrency: "16"}}})
	var actions []string
	for id, p := range resources("AWS::IAM::Policy") {
		if !strings.HasPrefix(id, "SilenceCheckRole") {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if st.(map[string]any)["Effect"] == "Deny" {
				continue // TestFunctionsWriteOnlyAlarmState
			}
			res, _ := json.Marshal(st.(map[string]any)["Resource"])
			acts := st.(map[string]any)["Action"]
			list, ok := acts.([]any)
			if !ok {
				list = []any{acts}
			}
			for _, a := range list {
				actions = append(actions, a.(string))
				if strings.HasPrefix(a.(string), "dynamodb:") && !strings.Contains(string(res), "AlertingTable") {
					t.Errorf("silence may %s on %s", a, res)
				}
				if a == "dynamodb:Query" && strings.Contains(string(res), "/index/") && !strings.Contains(string(res), "/index/due") {
					t.Errorf("silence queries an index other than the due index: %s", res)
				}
			}
		}
	}
	sort.Strings(actions)
	assert.Equal(t, []string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Query", "kms:Decrypt", "kms:GenerateDataKey",
		"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue", "sns:Publish",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", // its on-failure destination
		"xray:PutTelemetryRecords", "xray:PutTraceSegments"}, actions)
}

// TestNotify: the notify function subscribed to the alerts topic with the filter of docs/notify.md
// (not suppressed, or a RESOLVE), SNS allowed to invoke it from that topic only, its timeout the
// retry arithmetic's, two retries of an invocation then its on-failure queue, and its role: Query
// on the channels partitions only, Decrypt with the channels key, SendMessage to its queues, and
// nothing else.
func TestNotify(t *testing.T) {
	has(t, "AWS::SNS::Subscription", map[string]any{"Protocol": "lambda", "TopicArn": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("AlertingAlerts.*"))},
		"FilterPolicy": map[string]any{
			"kind": []any{"OPEN", "ESCALATE", "REMIND", "RESOLVE", "DIGEST", "ACK"},
			"$or":  []any{map[string]any{"suppressed": []any{"no"}}, map[string]any{"kind": []any{"RESOLVE"}}}},
		"RedrivePolicy": map[string]any{"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("NotifyOnFailure.*")), "Arn"}}}})
	has(t, "AWS::Lambda::Permission", map[string]any{"Principal": "sns.amazonaws.com", "Action": "lambda:InvokeFunction",
		"SourceArn": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("AlertingAlerts.*"))}})
	has(t, "AWS::Lambda::Function", map[string]any{"Timeout": notifylambda.TimeoutSeconds, "Environment": map[string]any{"Variables": map[string]any{
		fnenv.TableName: assertions.Match_AnyValue(), fnenv.ChannelsKeyARN: assertions.Match_AnyValue(), fnenv.NotifyDeadLetterURL: assertions.Match_AnyValue(),
		fnenv.PagerDutyURL: "https://events.pagerduty.com/v2/enqueue"}}})
	has(t, "AWS::Lambda::EventInvokeConfig", map[string]any{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("NotifyOnFailure.*")), "Arn"}}}}})
	has(t, "AWS::KMS::Key", map[string]any{"Description": assertions.Match_StringLikeRegexp(jsii.String("iotwatch channels.*")), "EnableKeyRotation": true})
	var got []string
	for id, p := range resources("AWS::IAM::Policy") {
		if !strings.HasPrefix(id, "NotifyDeliverRole") {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stm := st.(map[string]any)
			res, _ := json.Marshal(stm["Resource"])
			acts := stm["Action"]
			list, ok := acts.([]any)
			if !ok {
				list = []any{acts}
			}
			for _, a := range list {
				got = append(got, a.(string))
				switch {
				case a == "dynamodb:Query":
					cond, _ := json.Marshal(stm["Condition"])
					assert.JSONEq(t, `{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["#CHANNELS#*"]}}`, string(cond), "Query on the channels partitions only")
					assert.Contains(t, string(res), "AlertingTable")
					assert.NotContains(t, string(res), "/index/")
				case a == "kms:Decrypt":
					assert.Contains(t, string(res), "NotifyChannelsKey")
				case strings.HasPrefix(a.(string), "sqs:"):
					assert.Regexp(t, `Notify(DeadLetters|OnFailure)`, string(res))
				}
			}
		}
	}
	sort.Strings(got)
	assert.Equal(t, []string{"dynamodb:Query", "kms:Decrypt", "logs:CreateLogStream", "logs:PutLogEvents",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", "sqs:SendMessage", // its dead letter; its on-failure destination
		"xray:PutTelemetryRecords", "xray:PutTraceSegments"}, got)
	// Nothing but the notify function may decrypt with the channels key.
	for id, p := range resources("AWS::IAM::Policy") {
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), "NotifyChannelsKey") && !strings.HasPrefix(id, "NotifyDeliverRole") {
			t.Errorf("%s refers to the channels key: %s", id, b)
		}
	}
}

// TestLinks: a secret generated at deploy (not in the template), the links function behind a public
// function URL (its code is what protects the actions), its URL and the secret given to the
// functions that sign links, and nothing else readable by it.
func TestLinks(t *testing.T) {
	has(t, "AWS::SecretsManager::Secret", map[string]any{"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"PasswordLength": 64})})
	has(t, "AWS::Lambda::Url", map[string]any{"AuthType": "NONE"})
	signers := 0
	for _, fn := range resources("AWS::Lambda::Function") {
		env, _ := fn["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if vars[fnenv.LinkBaseURL] != nil {
			signers++
			assert.NotNil(t, vars[fnenv.LinkSecretARN])
		}
	}
	assert.Equal(t, 2, signers, "evaluate and silence sign links")
	b, _ := json.Marshal(tmpl)
	assert.NotContains(t, string(b), `"SecretString":`, "the secret's value is never in the template")
	outputs := tmpl["Outputs"].(map[string]any)
	assert.NotNil(t, outputs["LinksURL"])
}

func TestOperations(t *testing.T) {
	alarms := resources("AWS::CloudWatch::Alarm")
	want := []string{"IteratorAge", "EvaluateErrors", "EvaluateThrottles", "EvaluateOnFailureDepth", "QuarantineRate", "BronzeFreshness",
		"BronzeDeliveryFailures", "AlertsDeliveryFailures", "IoTRuleErrors", "IoTRuleErrorQueue", "AggregationErrors",
		"AggregationFailureQueue", "AggregationMissing", "DynamoDBThrottles", "AlertsToLakeDLQ", "IoTRuleThrottled", "IoTRuleParseErrors",
		"BronzeErrorsPrefix", "BronzeReadLag",
		"SilenceErrors", "SilenceDuration", "SilenceLag", "SilenceFailureQueue", "SilenceMissing", "DataQualityPassRate",
		"Heartbeat", "AlertsNotificationsFailed",
		"NotifyErrors", "NotifyFailed", "NotifyDeadLetters", "NotifyFailureQueue"}
	for _, name := range want {
		found := false
		for id, a := range alarms {
			if strings.HasPrefix(id, "Operations"+name) {
				found = true
				if a["AlarmActions"] == nil || a["AlarmDescription"] == "" {
					t.Errorf("alarm %s notifies nobody", id)
				}
			}
		}
		if !found {
			t.Errorf("no alarm %s", name)
		}
	}
	// The pass rate: an hour's valid records over all of them, under 99 % for one hour.
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"ComparisonOperator": "LessThanThreshold", "Threshold": 99, "EvaluationPeriods": 1,
		"TreatMissingData": "notBreaching", "Metrics": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Expression": "IF(records > 0, 100 * (records - rejected) / records, 100)"}),
			assertions.Match_ObjectLike(&map[string]any{"Id": "records", "MetricStat": assertions.Match_ObjectLike(&map[string]any{
				"Period": 3600, "Stat": "Sum", "Metric": assertions.Match_ObjectLike(&map[string]any{"MetricName": "Records", "Namespace": "iotwatch"})})}),
		})})
	dashboards := resources("AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Errorf("no dashboard")
	}
	for _, d := range dashboards {
		body, _ := json.Marshal(d["DashboardBody"])
		for _, want := range []string{"SEARCH('{iotwatch,Function,Kind,Severity} MetricName=", "SEARCH('{iotwatch,Function,Reason} MetricName=",
			"Kind=", "Alerts by kind and severity", "Rejected readings by reason", "Devices going silent"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("the dashboard has no %s: %s", want, body)
			}
		}
	}
	has(t, "AWS::SNS::Subscription", map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
	// The operators' topic: its policy keeps the TLS Deny and lets this account's alarms publish.
	has(t, "AWS::SNS::TopicPolicy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}}),
			assertions.Match_ObjectLike(&map[string]any{"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Action": "sns:Publish",
				"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
				"Condition": map[string]any{
					"ArnLike":      map[string]any{"aws:SourceArn": assertions.Match_AnyValue()},
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
				}}),
		})})})
	// AggregationMissing watches successes; no data is INSUFFICIENT_DATA, with its own notification.
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "HoursAggregated", "Namespace": "iotwatch", "TreatMissingData": "missing",
		"EvaluationPeriods": 3, "InsufficientDataActions": assertions.Match_AnyValue()})
	// The records Firehose could not partition, counted from its error log: the bronze stream's only.
	filters := resources("AWS::Logs::MetricFilter")
	require.Len(t, filters, 1)
	for _, f := range filters {
		b, _ := json.Marshal(f["FilterPattern"])
		assert.Contains(t, string(b), `{ ($.errorCode = \"DynamicPartitioning.*\") \u0026\u0026 ($.deliveryStreamARN = \"arn:`)
		assert.Regexp(t, `:deliverystream/\",\{\"Ref\":\"LakeBronze[0-9A-F]{8}\"\},\"\\\"\) \}\"`, string(b), "the ARN ends with the bronze stream's name")
		assert.Equal(t, BronzeErrorsMetric, f["MetricTransformations"].([]any)[0].(map[string]any)["MetricName"])
	}
	// IoT's action failures carry RuleName and ActionType.
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "Failure", "Namespace": "AWS/IoT",
		"Dimensions": assertions.Match_ArrayWith(&[]any{map[string]any{"Name": "ActionType", "Value": "Kinesis"}})})
	// the error queue holds the error action's JSON as it is
	has(t, "AWS::IoT::TopicRule", map[string]any{"TopicRulePayload": assertions.Match_ObjectLike(&map[string]any{
		"ErrorAction": map[string]any{"Sqs": assertions.Match_ObjectLike(&map[string]any{"UseBase64": false})}})})
	outputs := tmpl["Outputs"].(map[string]any)
	for _, o := range []string{"IoTDataEndpoint", "ReadingsTopic", "DevicePolicyName", "StreamName", "TableName", "AlertsTopicArn",
		"OperatorsTopicArn", "LakeBucket", "AthenaWorkGroup", "GlueDatabase", "Dashboard", "ChannelsKeyArn", "NotifyDeadLetters"} {
		if outputs[o] == nil {
			t.Errorf("no stack output %s", o)
		}
	}
}

// TestLeastPrivilege: no action with a wildcard anywhere, and the evaluate function writes to no
// bucket prefix but quarantine/ and rejections/.
func TestLeastPrivilege(t *testing.T) {
	for id, p := range resources("AWS::IAM::Policy") {
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			acts := st.(map[string]any)["Action"]
			list, ok := acts.([]any)
			if !ok {
				list = []any{acts}
			}
			for _, a := range list {
				if strings.Contains(a.(string), "*") {
					t.Errorf("%s allows %s", id, a)
				}
			}
			if strings.HasPrefix(id, "AlertingEvaluateRole") {
				res, _ := json.Marshal(st.(map[string]any)["Resource"])
				for _, a := range list {
					if strings.HasPrefix(a.(string), "s3:") && (!strings.Contains(string(res), "/quarantine/*") || strings.Count(string(res), "/*") != 2 || !strings.Contains(string(res), "/rejections/*")) {
						t.Errorf("evaluate may %s on %s", a, res)
					}
				}
			}
		}
	}
	for id, r := range resources("AWS::IAM::Role") {
		// CDK's own providers (AwsCustomResource's, and the results bucket's auto-delete) log with
		// AWSLambdaBasicExecutionRole
		if r["ManagedPolicyArns"] != nil && !strings.HasPrefix(id, "AWS679f53fac002430cb0da5b7982bd2287") &&
			!strings.HasPrefix(id, "CustomS3AutoDeleteObjectsCustomResourceProviderRole") {
			t.Errorf("%s has managed policies %v", id, r["ManagedPolicyArns"])
		}
	}
}

// TestFunctionEnvironmentIsTheServicesDefaults: the environment the stack gives the evaluate and
// silence functions reads back, through the functions' own parser, as the service's defaults; and
// the names it sets are the contract's.
func TestFunctionEnvironmentIsTheServicesDefaults(t *testing.T) {
	envs := map[string]map[string]any{} // "evaluate" or "silence": its variables
	for _, r := range tmpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		envProp, _ := props["Environment"].(map[string]any)
		vars, _ := envProp["Variables"].(map[string]any)
		_, table := vars[fnenv.TableName]
		_, bucket := vars[fnenv.LakeBucket]
		_, signs := vars[fnenv.LinkBaseURL]
		_, athena := vars[fnenv.AthenaWorkgroup] // the aggregate function has the table (its lease) and the bucket too
		switch {
		case table && bucket && !athena:
			envs["evaluate"] = vars
		case table && signs:
			envs["silence"] = vars
		}
	}
	want := map[string][]string{
		"evaluate": {fnenv.TableName, fnenv.AlertsTopicARN, fnenv.LakeBucket, fnenv.CacheTTL, fnenv.LoadConcurrency},
		"silence":  {fnenv.TableName, fnenv.AlertsTopicARN, fnenv.LoadConcurrency},
	}
	for fn, names := range want {
		env := envs[fn]
		if env == nil {
			t.Errorf("no %s function with %s in its environment", fn, fnenv.TableName)
			continue
		}
		for _, name := range names {
			if _, ok := env[name]; !ok {
				t.Errorf("the %s function's environment has no %s", fn, name)
			}
		}
		cfg, err := evaluator.ConfigFromEnv(func(k string) string { s, _ := env[k].(string); return s })
		if err != nil || cfg.LoadConcurrency != evaluator.DefaultConfig.LoadConcurrency || (fn == "evaluate" && cfg.CacheTTL != evaluator.DefaultConfig.CacheTTL) {
			t.Errorf("the %s function's environment reads as %+v, %v; want the service's defaults %+v", fn, cfg, err, evaluator.DefaultConfig)
		}
	}
}

// TestGrafanaPolicyIsReadOnly: the policy for Grafana reads the lake, queries in the stack's
// workgroup, and writes only the query results Athena makes for it.
func TestGrafanaPolicyIsReadOnly(t *testing.T) {
	pols := resources("AWS::IAM::ManagedPolicy")
	require.Len(t, pols, 1)
	readOnly := regexp.MustCompile(`^(athena:(Get|List)[A-Za-z]+|athena:(Start|Stop)QueryExecution|glue:(Get|BatchGet)[A-Za-z]+|s3:(GetObject|GetBucketLocation|ListBucket|ListBucketMultipartUploads|ListMultipartUploadParts)|cloudwatch:(Get|List|Describe)[A-Za-z]+)$`)
	for id, p := range pols {
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			assert.Equal(t, "Allow", s["Effect"])
			res, _ := json.Marshal(s["Resource"])
			actions, ok := s["Action"].([]any)
			if !ok {
				actions = []any{s["Action"]}
			}
			for _, a := range actions {
				a := a.(string)
				if a == "s3:PutObject" || a == "s3:AbortMultipartUpload" {
					assert.Contains(t, string(res), "LakeAthenaResults", "%s may write only the query results", id)
					assert.Contains(t, string(res), "/results/*")
					continue
				}
				assert.Regexp(t, readOnly, a, "%s allows %s", id, a)
				if strings.HasPrefix(a, "athena:StartQueryExecution") {
					assert.Contains(t, string(res), "workgroup/iotwatch", "queries in the stack's workgroup only")
				}
			}
		}
	}
	outputs := tmpl["Outputs"].(map[string]any)
	for _, o := range []string{"GrafanaPolicyArn", "AthenaWorkGroup", "GlueDatabase", "AthenaResultsLocation", "Region"} {
		assert.Contains(t, outputs, o)
	}
}

// TestIcebergTablesSurviveAColumnChange: a column added to a lake table changes nothing that
// CloudFormation would apply to an existing Iceberg table: the template's Glue tables are the
// same, and the column reaches the table through the aggregate function's DDL.
func TestIcebergTablesSurviveAColumnChange(t *testing.T) {
	glueTables := func(cols []lake.Column) (string, string) {
		saved := lake.HourlyMetricsTable.Columns
		lake.HourlyMetricsTable.Columns = cols
		defer func() { lake.HourlyMetricsTable.Columns = saved }()
		tables := synthAnother(t, nil).FindResources(jsii.String("AWS::Glue::Table"), nil)
		b, _ := json.Marshal(tables)
		var ddl strings.Builder
		for _, st := range aggregate.TableStatements("db", "bucket") {
			ddl.WriteString(st.SQL)
		}
		return string(b), ddl.String()
	}
	before, ddlBefore := glueTables(lake.HourlyMetricsTable.Columns)
	after, ddlAfter := glueTables(append(append([]lake.Column{}, lake.HourlyMetricsTable.Columns...), lake.Column{Name: "pressure_avg", Type: lake.Double}))
	if before != after {
		t.Errorf("a new hourly_metrics column changed the template's Glue tables:\n%s\n%s", before, after)
	}
	if ddlBefore == ddlAfter || !strings.Contains(ddlAfter, "pressure_avg double") {
		t.Errorf("the new column is not in the aggregate function's DDL")
	}
}

// synthAnother synthesizes a stack of its own, as TestMain's but with changes to its props, checked
// by cdk-nag: its template, and its unsuppressed cdk-nag errors reported as test errors.
func synthAnother(t *testing.T, change func(*Props)) assertions.Template {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"evaluate", "bronze", "aggregate", "silence", "links", "notify"} {
		os.MkdirAll(filepath.Join(dir, f), 0o755)
		os.WriteFile(filepath.Join(dir, f, "bootstrap"), []byte("placeholder for "+f), 0o755)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	p := &Props{FunctionsDir: dir, Shards: 2, BatchSize: 500, BytesScannedCutoff: 10e9, AlarmEmail: "ops@example.com", Heartbeat: 1}
	if change != nil {
		change(p)
	}
	s := NewStack(app, "iotwatch", p)
	Checks(app)
	app.Synth(nil)
	for _, e := range *assertions.Annotations_FromStack(s.Stack).FindError(jsii.String("*"), assertions.Match_AnyValue()) {
		//lint:ignore SA1019 the Go binding of Annotations offers no other message type
		t.Errorf("cdk-nag: %s: %v", *e.Id, e.Entry.Data)
	}
	return assertions.Template_FromStack(s.Stack, nil)
}

// TestLinksConcurrency: context linksConcurrency reserves (and bounds) the links function's
// concurrency, and nothing else's; the default template reserves none (TestAggregation).
func TestLinksConcurrency(t *testing.T) {
	tp := synthAnother(t, func(p *Props) { p.LinksConcurrency = 5 })
	b, _ := json.Marshal(tp.ToJSON())
	var doc struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	reserved := map[string]any{}
	for _, r := range doc.Resources {
		if r.Type == "AWS::Lambda::Function" && r.Properties["ReservedConcurrentExecutions"] != nil {
			reserved[r.Properties["Description"].(string)] = r.Properties["ReservedConcurrentExecutions"]
		}
	}
	assert.Equal(t, map[string]any{"iotwatch: one-click acknowledge and snooze links": float64(5)}, reserved)
}

// A provisioned table: the table and its due index get capacity and auto scaling, reads and
// writes apart, each within its range, all tracking the same utilization.
func TestProvisionedTableScales(t *testing.T) {
	tp := synthAnother(t, func(p *Props) {
		p.TableCapacity = &TableCapacity{MinReads: 2, MaxReads: 300, MinWrites: 200, MaxWrites: 2000}
	})
	tp.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
		"BillingMode":           assertions.Match_Absent(),
		"ProvisionedThroughput": map[string]any{"ReadCapacityUnits": 2, "WriteCapacityUnits": 200},
		"GlobalSecondaryIndexes": []any{assertions.Match_ObjectLike(&map[string]any{"IndexName": "due",
			"ProvisionedThroughput": map[string]any{"ReadCapacityUnits": 1, "WriteCapacityUnits": 80}})},
	})
	b, _ := json.Marshal(tp.ToJSON())
	var doc struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	targets := map[string]string{} // dimension -> min-max
	policies := 0
	for _, r := range doc.Resources {
		switch r.Type {
		case "AWS::ApplicationAutoScaling::ScalableTarget":
			dim := r.Properties["ScalableDimension"].(string)
			rid, _ := json.Marshal(r.Properties["ResourceId"])
			if strings.Contains(string(rid), "/index/due") {
				dim = "index:" + dim
			}
			targets[dim] = fmt.Sprintf("%v-%v", r.Properties["MinCapacity"], r.Properties["MaxCapacity"])
		case "AWS::ApplicationAutoScaling::ScalingPolicy":
			policies++
			cfg := r.Properties["TargetTrackingScalingPolicyConfiguration"].(map[string]any)
			assert.EqualValues(t, TargetUtilization, cfg["TargetValue"])
		}
	}
	assert.Equal(t, map[string]string{
		"dynamodb:table:ReadCapacityUnits":        "2-300",
		"dynamodb:table:WriteCapacityUnits":       "200-2000",
		"index:dynamodb:index:ReadCapacityUnits":  "1-300",
		"index:dynamodb:index:WriteCapacityUnits": "80-2000",
	}, targets)
	assert.Equal(t, 4, policies)
}
