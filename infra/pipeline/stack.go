// Package pipeline is iotwatch as a CDK app: one construct per concern (ingestion, lake,
// alerting, aggregation, silence, links, notify, operations), composed by NewStack and checked by cdk-nag.
package pipeline

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures the stack; every field has a context value (cdk.json, or -c key=value).
type Props struct {
	awscdk.StackProps
	FunctionsDir string  // where `make build` put <function>/bootstrap (context functionsDir, default "bin")
	Shards       float64 // provisioned shards of the readings stream (context shards, default 1)
	OnDemand     bool    // on-demand stream instead (context streamMode=on-demand)
	AlarmEmail   string  // operators' email (context alarmEmail)
	BatchSize    float64 // Kinesis batch size of evaluate (context batchSize, default 500)
	// TableCapacity makes the table provisioned with auto scaling (context tableCapacity=provisioned,
	// tableReads and tableWrites); nil: on demand.
	TableCapacity *TableCapacity
	// BytesScannedCutoff bounds one Athena query, in bytes (context athenaBytesCutoff, default 10 GB)
	BytesScannedCutoff float64
	// LinksConcurrency reserves that many concurrent executions for the public links function,
	// its bound (context linksConcurrency); 0, the default: none (a new account's quota of 10
	// refuses any reservation; docs/deploying.md).
	LinksConcurrency float64
	// Heartbeat is the least number of valid readings in 15 minutes below which the Heartbeat
	// alarm pages (context heartbeat, default 1); 0 makes no heartbeat alarm (heartbeat=off).
	Heartbeat float64
	// PagerDutyURL is the notify function's PagerDuty Events API v2 endpoint (context
	// pagerdutyUrl; "" is PagerDuty's own).
	PagerDutyURL string
}

// Stack is the whole pipeline.
type Stack struct {
	awscdk.Stack
	Ingestion   *Ingestion
	Lake        *Lake
	Alerting    *Alerting
	Aggregation *Aggregation
	Silence     *Silence
	Links       *Links
	Notify      *Notify
	Operations  *Operations
	Grafana     *Grafana
}

var nonName = regexp.MustCompile(`[^a-z0-9_]+`)

// catalogName turns a stack name into a Glue database / Athena workgroup name.
func catalogName(stackName string) string {
	n := nonName.ReplaceAllString(strings.ToLower(stackName), "_")
	if n == "" {
		return "iotwatch"
	}
	return n
}

// NewStack composes the constructs.
func NewStack(scope constructs.Construct, id string, p *Props) *Stack {
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	s := &Stack{Stack: st}
	s.Ingestion = NewIngestion(st, "Ingestion", &IngestionProps{Shards: p.Shards, OnDemand: p.OnDemand})
	s.Lake = NewLake(st, "Lake", &LakeProps{Name: catalogName(id), Stream: s.Ingestion.Stream, BytesScannedCutoff: p.BytesScannedCutoff,
		FunctionsDir: p.FunctionsDir})
	s.Alerting = NewAlerting(st, "Alerting", &AlertingProps{Stream: s.Ingestion.Stream, Lake: s.Lake, FunctionsDir: p.FunctionsDir, BatchSize: p.BatchSize,
		Capacity: p.TableCapacity})
	s.Aggregation = NewAggregation(st, "Aggregation", &AggregationProps{Lake: s.Lake, Table: s.Alerting.Table, FunctionsDir: p.FunctionsDir})
	s.Silence = NewSilence(st, "Silence", &SilenceProps{Alerting: s.Alerting, FunctionsDir: p.FunctionsDir})
	s.Links = NewLinks(st, "Links", &LinksProps{Alerting: s.Alerting, FunctionsDir: p.FunctionsDir,
		Signers: []awslambda.Function{s.Alerting.Evaluate, s.Silence.Function}, ReservedConcurrency: p.LinksConcurrency})
	s.Notify = NewNotify(st, "Notify", &NotifyProps{Alerting: s.Alerting, FunctionsDir: p.FunctionsDir, PagerDutyURL: p.PagerDutyURL})
	s.Operations = NewOperations(st, "Operations", &OperationsProps{Email: p.AlarmEmail, Ingestion: s.Ingestion, Alerting: s.Alerting,
		Aggregation: s.Aggregation, Silence: s.Silence, Lake: s.Lake, Heartbeat: p.Heartbeat, Notify: s.Notify})
	s.Grafana = NewGrafana(st, "Grafana", &GrafanaProps{Lake: s.Lake})

	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(st, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("IoTDataEndpoint", "Where devices connect (MQTT over TLS, port 8883)", s.Ingestion.DataEndpoint)
	out("ReadingsTopic", "Devices publish readings on this topic (their thing name as device id)", jsii.String("devices/{device_id}/readings"))
	out("BasicIngestRule", "The topic rule devices publish to directly (Basic Ingest: $aws/rules/RULE/devices/{device_id}/readings, no messaging charge; iotwatch simulate --basic-ingest RULE)", s.Ingestion.Rule.Ref())
	out("DevicePolicyName", "IoT policy to attach to device certificates (iotwatch device register does)", s.Ingestion.DevicePolicy.Ref())
	out("StreamName", "Kinesis stream of readings", s.Ingestion.Stream.StreamName())
	out("TableName", "DynamoDB table of thresholds, devices and alarm state (iotwatch thresholds put --table)", s.Alerting.Table.TableName())
	out("AlertsTopicArn", "SNS topic of alerts (iotwatch subscribe --topic)", s.Alerting.Topic.TopicArn())
	out("OperatorsTopicArn", "SNS topic of the operators' alarms", s.Operations.Topic.TopicArn())
	out("LakeBucket", "S3 bucket of the lake: bronze/, alerts/, quarantine/, rejections/, gold/, errors/", s.Lake.Bucket.BucketName())
	out("AthenaWorkGroup", "Athena workgroup (its named queries answer common questions)", s.Lake.WorkGroupName)
	out("GlueDatabase", "Glue database: bronze_readings, bronze_lines, alerts, rejections, devices; silver_readings, hourly_metrics, daily_metrics, dq_hourly, location_hourly (Iceberg, made by the aggregate function)", s.Lake.DatabaseName)
	out("Dashboard", "CloudWatch dashboard", s.Operations.Dashboard.DashboardName())
	out("GrafanaPolicyArn", "Read-only managed policy for Grafana's Athena and CloudWatch data sources (infra/grafana/README.md)", s.Grafana.Policy.ManagedPolicyArn())
	out("AthenaResultsLocation", "Where the workgroup writes query results (Grafana's Athena data source: Output Location)",
		jsii.String("s3://"+*s.Lake.Results.BucketName()+"/results/"))
	out("Region", "The stack's region (Grafana's data sources: Default Region)", st.Region())
	out("LinksURL", "Where the alerts' one-click acknowledge and snooze links point", s.Links.URL.Url())
	out("ChannelsKeyArn", "KMS key of people's channels (iotwatch channels put --table T --key ARN; the CLI's user needs kms:Encrypt on it)", s.Notify.Key.KeyArn())
	out("NotifyDeadLetters", "SQS queue of the alerts the notify function could not deliver (with the reason)", s.Notify.DeadLetters.QueueUrl())
	out("AggregateFunction", "The aggregate function (a backfill: aws lambda invoke --payload '{\"from\":\"YYYY-MM-DDTHH\",\"to\":\"YYYY-MM-DDTHH\"}')", s.Aggregation.Function.FunctionName())
	out("SmokeAlarm", "The alarm make smoke forces to ALARM to see a notification delivered (EvaluateThrottles)", s.Operations.Alarms["EvaluateThrottles"].AlarmName())
	suppress(s)
	return s
}
