package pipeline

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/emf"
	tablecontract "github.com/iotwatch/iotwatch/shared/contract/table"
)

// Operations is what operators watch: their topic, the alarms, and a dashboard.
type Operations struct {
	constructs.Construct
	Topic     awssns.Topic
	Alarms    map[string]awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
	order     []string
}

// OperationsProps lists what to watch.
type OperationsProps struct {
	Email       string // operators' address; none when empty
	Ingestion   *Ingestion
	Alerting    *Alerting
	Aggregation *Aggregation
	Silence     *Silence
	Notify      *Notify
	Lake        *Lake
	// Heartbeat is the least number of valid readings the fleet sends in 15 minutes; fewer pages
	// (the Heartbeat alarm). 0: no heartbeat alarm (context heartbeat=off).
	Heartbeat float64
}

// HeartbeatMinutes is the period of the heartbeat: readings are counted over it.
const HeartbeatMinutes = 15

const namespace = emf.Namespace

// BronzeErrorsMetric is the metric filter's count of the records Firehose sent to errors/bronze/.
const BronzeErrorsMetric = "BronzeErrorRecords"

func emfMetric(name string, dims map[string]*string, stat string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(namespace), MetricName: jsii.String(name), DimensionsMap: &dims,
		Statistic: jsii.String(stat), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

func awsMetric(ns, name string, dims map[string]*string, stat string, minutes float64) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(ns), MetricName: jsii.String(name), DimensionsMap: &dims,
		Statistic: jsii.String(stat), Period: awscdk.Duration_Minutes(jsii.Number(minutes)),
	})
}

// awsMetricOf is m over periods of the given minutes.
func awsMetricOf(m awscloudwatch.Metric, minutes float64) awscloudwatch.Metric {
	return m.With(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(minutes))})
}

// NewOperations builds the alarms and the dashboard.
func NewOperations(scope constructs.Construct, id string, p *OperationsProps) *Operations {
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := &Operations{Construct: c, Alarms: map[string]awscloudwatch.Alarm{}}
	key := awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description: jsii.String("iotwatch operators topic"), EnableKeyRotation: jsii.Bool(true), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	o.Topic = awssns.NewTopic(c, jsii.String("Operators"), &awssns.TopicProps{
		DisplayName: jsii.String("iotwatch operators"), MasterKey: key, EnforceSSL: jsii.Bool(true),
	})
	stack := awscdk.Stack_Of(c)
	// CloudWatch alarms publish to an encrypted topic only if the key lets them make its data key
	// (the SNS guide, "Enable compatibility between event sources from AWS services and encrypted
	// topics"): those two actions, for this account's alarms only, and nothing else of the key.
	thisAccountsAlarms := &map[string]interface{}{
		"ArnLike":      map[string]interface{}{"aws:SourceArn": "arn:" + *stack.Partition() + ":cloudwatch:" + *stack.Region() + ":" + *stack.Account() + ":alarm:*"},
		"StringEquals": map[string]interface{}{"aws:SourceAccount": *stack.Account()},
	}
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsUseKey"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, the key itself
		Conditions: thisAccountsAlarms,
	}), nil)
	// EnforceSSL gives the topic a policy of its own (the TLS Deny), which replaces SNS's default
	// policy: CloudWatch alarms publish as a service principal, so they need this Allow, held to
	// this account's alarms.
	o.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*o.Topic.TopicArn()),
		Conditions: thisAccountsAlarms,
	}))
	if p.Email != "" {
		dlq := deadLetterQueue(c, "EmailDLQ")
		o.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.Email), &awssnssubscriptions.EmailSubscriptionProps{DeadLetterQueue: dlq}))
	}
	action := awscloudwatchactions.NewSnsAction(o.Topic)
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64, cmp awscloudwatch.ComparisonOperator, periods float64, missing awscloudwatch.TreatMissingData) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: cmp,
			EvaluationPeriods:  jsii.Number(periods),
			TreatMissingData:   missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		o.Alarms[id] = a
		o.order = append(o.order, id)
	}
	gt := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	ge := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	lt := awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD
	notBreaching := awscloudwatch.TreatMissingData_NOT_BREACHING
	fiveMin := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}

	ev := p.Alerting.Evaluate
	alarm("IteratorAge", "Evaluate is falling behind the stream: oldest record over 5 minutes",
		ev.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		300000, gt, 3, notBreaching)
	alarm("EvaluateErrors", "Evaluate invocations failed (whole batches retried)", ev.MetricErrors(fiveMin), 0, gt, 2, notBreaching)
	alarm("EvaluateThrottles", "Evaluate was throttled", ev.MetricThrottles(fiveMin), 0, gt, 2, notBreaching)
	alarm("EvaluateOnFailureDepth", "Batches the stream gave up on (after retries or 23 h) are waiting in the on-failure queue: the stream keeps their records one hour more",
		p.Alerting.OnFailure.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	fnDim := map[string]*string{"Function": jsii.String("evaluate")}
	quarantineRate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("100 * rejected / (records + 1)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"rejected": emfMetric("Rejected", fnDim, "Sum"),
			"records":  emfMetric("Records", fnDim, "Sum"),
		},
		Label:  jsii.String("Quarantined %"),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
	alarm("QuarantineRate", "Over 5% of records quarantined: a device or firmware sends bad readings", quarantineRate, 5, gt, 3, notBreaching)
	// The fleet's data-quality pass rate of an hour (DESIGN.md, dq_hourly): valid records over
	// valid and rejected ones; an hour with no record passes.
	passRate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(records > 0, 100 * (records - rejected) / records, 100)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"rejected": awsMetricOf(emfMetric("Rejected", fnDim, "Sum"), 60),
			"records":  awsMetricOf(emfMetric("Records", fnDim, "Sum"), 60),
		},
		Label:  jsii.String("Pass rate %"),
		Period: awscdk.Duration_Hours(jsii.Number(1)),
	})
	alarm("DataQualityPassRate", "Under 99% of the fleet's records passed validation in an hour (see the quarantine: iotwatch quarantine list --bucket)",
		passRate, 99, awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 1, notBreaching)
	// People's alerts SNS could not deliver (an SMS refused in the sandbox or past the spending
	// limit, an endpoint gone, the lake's Firehose refusing): SNS counts them per topic.
	alarm("AlertsNotificationsFailed", "SNS failed to deliver alerts to subscribers (SMS sandbox or spending limit, a refused endpoint): people may not have been told",
		p.Alerting.Topic.MetricNumberOfNotificationsFailed(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		0, gt, 1, notBreaching)
	// The heartbeat: valid readings reaching the evaluate function (its EMF Readings), the end of
	// the whole path from the devices (IoT rule, its role, the stream, the mapping, the function).
	// No data is what a dead path looks like, so it breaches: a stack with no device yet is in
	// ALARM until the first reports (-c heartbeat=off for none).
	if p.Heartbeat > 0 {
		few := fmt.Sprintf("Fewer than %g valid readings", p.Heartbeat)
		if p.Heartbeat == 1 {
			few = "No valid reading"
		}
		alarm("Heartbeat", fmt.Sprintf("%s reached the evaluate function in %d minutes: devices stopped, or the path from them is broken (IoT rule, its role, the stream, the mapping). A stack with no devices yet stays here until the first reports (-c heartbeat=off)", few, HeartbeatMinutes),
			emfMetric("Readings", fnDim, "Sum").With(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(HeartbeatMinutes))}),
			p.Heartbeat, lt, 1, awscloudwatch.TreatMissingData_BREACHING)
	}
	alarm("AlertsToLakeDLQ", "Alerts SNS could not deliver to the lake's Firehose are waiting in a queue",
		p.Alerting.LakeDLQ.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	alarm("PublishedUncommitted", "Alerts were published but their state was not recorded: repeats possible", emfMetric("PublishedUncommitted", fnDim, "Sum"), 0, gt, 1, notBreaching)

	bronze := map[string]*string{"DeliveryStreamName": p.Lake.BronzeName}
	alerts := map[string]*string{"DeliveryStreamName": p.Alerting.AlertsName}
	alarm("BronzeFreshness", "Bronze delivery is late: the oldest record in Firehose is over 15 minutes old",
		awsMetric("AWS/Firehose", "DeliveryToS3.DataFreshness", bronze, "Maximum", 5), 900, gt, 3, notBreaching)
	alarm("BronzeDeliveryFailures", "Bronze delivery to S3 is failing",
		awsMetric("AWS/Firehose", "DeliveryToS3.Success", bronze, "Average", 5), 1, lt, 3, notBreaching)
	alarm("BronzePartitionErrors", "Records Firehose could not partition are going to errors/",
		awsMetric("AWS/Firehose", "PartitionCountExceeded", bronze, "Maximum", 5), 1, ge, 1, notBreaching)
	alarm("AlertsDeliveryFailures", "Alerts delivery to the lake is failing",
		awsMetric("AWS/Firehose", "DeliveryToS3.Success", alerts, "Average", 5), 1, lt, 3, notBreaching)
	// IoT publishes the rule's metrics with RuleName, and its actions' with RuleName and ActionType
	// (the IoT developer guide, "Rule metrics" and "Rule action metrics").
	rule := map[string]*string{"RuleName": p.Ingestion.Rule.Ref()}
	ruleAction := map[string]*string{"RuleName": p.Ingestion.Rule.Ref(), "ActionType": jsii.String("Kinesis")}
	alarm("IoTRuleErrors", "The IoT rule failed to put readings on the stream (they go to its error queue)",
		awsMetric("AWS/IoT", "Failure", ruleAction, "Sum", 5), 0, gt, 1, notBreaching)
	alarm("IoTRuleThrottled", "IoT throttled messages of the rule: readings were dropped before the stream",
		awsMetric("AWS/IoT", "RuleMessageThrottled", rule, "Sum", 5), 0, gt, 1, notBreaching)
	alarm("IoTRuleParseErrors", "Messages on the readings topic were not JSON, so the rule could not run on them",
		awsMetric("AWS/IoT", "ParseError", rule, "Sum", 5), 0, gt, 1, notBreaching)
	alarm("IoTRuleErrorQueue", "Readings the IoT rule could not deliver are waiting in its error queue",
		p.Ingestion.RuleErrors.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	// Records Firehose cannot partition go to errors/bronze/ while delivery stays green: its error
	// log says so (errorCode DynamicPartitioning.…), counted by a metric filter.
	partitionErrors := awslogs.NewMetricFilter(c, jsii.String("BronzePartitioningErrors"), &awslogs.MetricFilterProps{
		LogGroup: p.Lake.FirehoseLogs,
		// the log group is shared with the alerts stream: only the bronze stream's errors count
		FilterPattern: awslogs.FilterPattern_All(
			awslogs.FilterPattern_StringValue(jsii.String("$.errorCode"), jsii.String("="), jsii.String("DynamicPartitioning.*")),
			awslogs.FilterPattern_StringValue(jsii.String("$.deliveryStreamARN"), jsii.String("="),
				jsii.String("arn:"+*stack.Partition()+":firehose:"+*stack.Region()+":"+*stack.Account()+":deliverystream/"+*p.Lake.BronzeName))),
		MetricNamespace: jsii.String(namespace),
		MetricName:      jsii.String(BronzeErrorsMetric),
		MetricValue:     jsii.String("1"),
		DefaultValue:    jsii.Number(0),
	})
	alarm("BronzeErrorsPrefix", "Firehose could not partition records: they are under errors/bronze/ (no event_time it can read), not in bronze",
		partitionErrors.Metric(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}), 0, gt, 1, notBreaching)
	fw := p.Lake.Forwarder
	alarm("BronzeReadLag", "The bronze function reads the stream late: bronze is over 15 minutes behind (Firehose refusing its records, or the function failing)",
		fw.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		900000, gt, 3, notBreaching)
	alarm("BronzeForwardErrors", "Bronze function invocations failed: timed out or crashed (their batches are retried)", fw.MetricErrors(fiveMin), 0, gt, 2, notBreaching)
	alarm("BronzeRefused", "Firehose refused bronze records after every try: their batches are retried, bronze falls behind",
		emfMetric("FailedFirehoseRecords", map[string]*string{"Function": jsii.String("bronze")}, "Sum"), 0, gt, 2, notBreaching)
	alarm("BronzeOnFailureDepth", "Batches of readings that never reached bronze (23 h of retries) are in the on-failure queue (their shard and sequence numbers): those readings are not in the lake, and the stream keeps them one hour more",
		p.Lake.BronzeOnFailure.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	ag := p.Aggregation
	alarm("AggregationErrors", "The hourly aggregation failed", ag.Function.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Hours(jsii.Number(1))}), 0, gt, 1, notBreaching)
	alarm("AggregationFailureQueue", "Hourly aggregations that failed after retries",
		ag.OnFailure.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	// On success, not on invocations: a run whose hours all failed aggregated none. No data (the
	// schedule stopped, or a fresh deploy before its first run) is INSUFFICIENT_DATA, not ALARM:
	// operators hear of it through the insufficient-data action (a fresh deploy starts there, and
	// its first state is not a change).
	aggregated := emfMetric("HoursAggregated", map[string]*string{"Function": jsii.String("aggregate")}, "Sum").
		With(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Hours(jsii.Number(1))})
	alarm("AggregationMissing", "No hourly aggregation has succeeded for 3 hours (INSUFFICIENT_DATA: the function has not run at all)",
		aggregated, 1, lt, 3, awscloudwatch.TreatMissingData_MISSING)
	o.Alarms["AggregationMissing"].AddInsufficientDataAction(action)
	sc := p.Silence
	silenceDim := map[string]*string{"Function": jsii.String("silence")}
	alarm("SilenceErrors", "The silence check failed in two 5-minute periods in a row (silences and reminders may be late)",
		sc.Function.MetricErrors(fiveMin), 0, gt, 2, notBreaching)
	alarm("SilenceDuration", "A silence check ran over 40 s of its 50 s: too many devices fall due at once",
		sc.Function.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		40000, gt, 2, notBreaching)
	alarm("SilenceLag", "Devices have been due for over 3 minutes: silences and reminders are going out late",
		emfMetric("DueLag", silenceDim, "Maximum"), 180, gt, 2, notBreaching)
	alarm("SilenceFailureQueue", "Silence checks that failed are waiting in the failure queue",
		sc.OnFailure.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	// Lambda publishes no Invocations datapoint for a period without one: a check that stopped
	// running shows as no data. Treated as missing (not breaching), a fresh stack, whose alarm is
	// made before the first run's datapoint lands, starts in INSUFFICIENT_DATA and goes to OK
	// without a page; a check that stops later goes to INSUFFICIENT_DATA, which notifies.
	alarm("SilenceMissing", "The silence check has not run for 15 minutes (INSUFFICIENT_DATA: no invocation at all; its schedule or function is gone or disabled)",
		sc.Function.MetricInvocations(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(15))}), 1, lt, 1,
		awscloudwatch.TreatMissingData_MISSING)
	o.Alarms["SilenceMissing"].AddInsufficientDataAction(action)
	if nt := p.Notify; nt != nil {
		alarm("NotifyErrors", "The notify function failed in two 5-minute periods in a row (channels not readable, or a dead letter not written): alerts are retried, then kept in its failure queue",
			nt.Function.MetricErrors(fiveMin), 0, gt, 2, notBreaching)
		alarm("NotifyFailed", "Alerts could not be delivered to a Slack, Teams, webhook or PagerDuty channel: they are in the notify dead-letter queue with the reason",
			emfMetric("NotifyFailed", map[string]*string{"Function": jsii.String("notify")}, "Sum"), 0, gt, 1, notBreaching)
		alarm("NotifyDeadLetters", "Undelivered alerts are waiting in the notify dead-letter queue (the reason is in each message)",
			nt.DeadLetters.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
		alarm("NotifyFailureQueue", "Notify invocations that failed three times are waiting in its failure queue",
			nt.OnFailure.MetricApproximateNumberOfMessagesVisible(fiveMin), 0, gt, 1, notBreaching)
	}
	table := p.Alerting.Table
	alarm("DynamoDBThrottles", "The table throttled requests",
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			// a throttle metric has data only where there were throttles: a sum with a missing
			// term is missing, so each counts 0 where it has none
			Expression: jsii.String("FILL(r, 0) + FILL(w, 0) + FILL(iw, 0) + FILL(ir, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"r": awsMetric("AWS/DynamoDB", "ReadThrottleEvents", map[string]*string{"TableName": table.TableName()}, "Sum", 5),
				"w": awsMetric("AWS/DynamoDB", "WriteThrottleEvents", map[string]*string{"TableName": table.TableName()}, "Sum", 5),
				// a provisioned due index that throttles slows the table's writes, and the silence
				// check's reads
				"iw": awsMetric("AWS/DynamoDB", "WriteThrottleEvents",
					map[string]*string{"TableName": table.TableName(), "GlobalSecondaryIndexName": jsii.String(tablecontract.DueIndex)}, "Sum", 5),
				"ir": awsMetric("AWS/DynamoDB", "ReadThrottleEvents",
					map[string]*string{"TableName": table.TableName(), "GlobalSecondaryIndexName": jsii.String(tablecontract.DueIndex)}, "Sum", 5),
			},
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}), 0, gt, 2, notBreaching)

	o.Dashboard = awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(24)),
	})
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(8)})
	}
	stream := p.Ingestion.Stream
	o.Dashboard.AddWidgets(
		graph("Throughput (records/5 min)", stream.MetricIncomingRecords(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
			emfMetric("Readings", fnDim, "Sum"), emfMetric("Rejected", fnDim, "Sum")),
		graph("Alerts (5 min)", emfMetric("Alerts", fnDim, "Sum"), emfMetric("Late", fnDim, "Sum"), emfMetric("Duplicates", fnDim, "Sum")),
		graph("Lag: iterator age (ms)", ev.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")})),
	)
	o.Dashboard.AddWidgets(
		graph("Errors", ev.MetricErrors(nil), ev.MetricThrottles(nil), ag.Function.MetricErrors(nil),
			p.Alerting.OnFailure.MetricApproximateNumberOfMessagesVisible(nil)),
		graph("Freshness: bronze and alerts delivery (s)", awsMetric("AWS/Firehose", "DeliveryToS3.DataFreshness", bronze, "Maximum", 5),
			awsMetric("AWS/Firehose", "DeliveryToS3.DataFreshness", alerts, "Maximum", 5)),
		graph("Evaluate batches (ms) and AWS calls", emfMetric("BatchDuration", fnDim, "p99"), emfMetric("DynamoDBCalls", fnDim, "Sum"), emfMetric("SNSCalls", fnDim, "Sum")),
	)
	o.Dashboard.AddWidgets(
		graph("Silence check: due devices and alerts", emfMetric("DueDevices", silenceDim, "Sum"), emfMetric("Alerts", silenceDim, "Sum"),
			emfMetric("StateConflicts", silenceDim, "Sum")),
		graph("Silence check: lag (s) and duration (ms)", emfMetric("DueLag", silenceDim, "Maximum"),
			sc.Function.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")})),
		graph("Silence check: errors", sc.Function.MetricErrors(nil), sc.OnFailure.MetricApproximateNumberOfMessagesVisible(nil)),
	)
	// The business view, from the dimensions the functions already emit (lambdametrics): one line
	// per kind and severity, per rejection reason, and the silences opened (SEARCH finds every
	// value of the dimensions; the labels name each line by them).
	search := func(label, query string) awscloudwatch.MathExpression {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(query), Label: jsii.String(label), Period: awscdk.Duration_Minutes(jsii.Number(5)),
		})
	}
	o.Dashboard.AddWidgets(
		graph("Alerts by kind and severity (5 min)", search("${PROP('Dim.Kind')} ${PROP('Dim.Severity')}",
			"SEARCH('{"+emf.Namespace+",Function,Kind,Severity} MetricName=\"Alerts\"', 'Sum', 300)")),
		graph("Rejected readings by reason (5 min)", search("${PROP('Dim.Reason')}",
			"SEARCH('{"+emf.Namespace+",Function,Reason} MetricName=\"Rejected\" Function=\"evaluate\"', 'Sum', 300)")),
		graph("Devices going silent (OPEN by the silence check, 5 min)", search("${PROP('Dim.Severity')}",
			"SEARCH('{"+emf.Namespace+",Function,Kind,Severity} MetricName=\"Alerts\" Function=\"silence\" Kind=\"OPEN\"', 'Sum', 300)")),
	)
	o.Dashboard.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: alarmsOf(o), Width: jsii.Number(24),
	}))
	return o
}

func alarmsOf(o *Operations) *[]interfacesawscloudwatch.IAlarmRef {
	var out []interfacesawscloudwatch.IAlarmRef
	for _, id := range o.order { // creation order: the same template every synth
		out = append(out, o.Alarms[id])
	}
	return &out
}
