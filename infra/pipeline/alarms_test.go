package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/aws/firehosebronze"
	"github.com/iotwatch/iotwatch/shared/aws/lambdametrics"
	"github.com/iotwatch/iotwatch/shared/aws/notifylambda"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// published is a metric someone publishes: its namespace, name, and one set of dimension names
// it carries (sorted, joined by commas; "" for none).
type published struct{ namespace, name, dims string }

// awsPublished are the AWS services' metrics the stack's alarms may watch, with the dimensions
// each service publishes them with. From the services' documentation:
//   - Lambda: "Using CloudWatch metrics with Lambda" (Errors, Throttles, Duration, Invocations,
//     IteratorAge; dimension FunctionName);
//   - SQS: "Available CloudWatch metrics for Amazon SQS" (ApproximateNumberOfMessagesVisible; QueueName);
//   - Firehose: "Monitoring Amazon Data Firehose with CloudWatch metrics" (DeliveryToS3.DataFreshness,
//     DeliveryToS3.Success, PartitionCountExceeded, KinesisMillisBehindLatest; DeliveryStreamName);
//   - IoT: "AWS IoT metrics and dimensions" (rule metrics RuleMessageThrottled, ParseError with
//     RuleName; rule action metrics Success, Failure with RuleName and ActionType);
//   - DynamoDB: "DynamoDB metrics and dimensions" (ReadThrottleEvents, WriteThrottleEvents; TableName,
//     and TableName with GlobalSecondaryIndexName for an index's).
//   - SNS: "Monitoring Amazon SNS topics using CloudWatch" (NumberOfNotificationsFailed; TopicName).
var awsPublished = []published{
	{"AWS/Lambda", "Errors", "FunctionName"}, {"AWS/Lambda", "Throttles", "FunctionName"},
	{"AWS/Lambda", "Duration", "FunctionName"}, {"AWS/Lambda", "Invocations", "FunctionName"},
	{"AWS/Lambda", "IteratorAge", "FunctionName"},
	{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"},
	{"AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName"}, {"AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName"},
	{"AWS/Firehose", "PartitionCountExceeded", "DeliveryStreamName"},
	{"AWS/Firehose", "KinesisMillisBehindLatest", "DeliveryStreamName"},
	{"AWS/IoT", "RuleMessageThrottled", "RuleName"}, {"AWS/IoT", "ParseError", "RuleName"},
	// ActionType is the action's type: Kinesis for the rule's one action (an assumption no
	// deploy has checked yet: `make smoke` lists the metrics IoT published)
	{"AWS/IoT", "Success", "ActionType=Kinesis,RuleName"}, {"AWS/IoT", "Failure", "ActionType=Kinesis,RuleName"},
	{"AWS/DynamoDB", "ReadThrottleEvents", "TableName"}, {"AWS/DynamoDB", "WriteThrottleEvents", "TableName"},
	{"AWS/DynamoDB", "WriteThrottleEvents", "GlobalSecondaryIndexName=due,TableName"}, // the due index (table.DueIndex)
	{"AWS/DynamoDB", "ReadThrottleEvents", "GlobalSecondaryIndexName=due,TableName"},
	{"AWS/SNS", "NumberOfNotificationsFailed", "TopicName"},
}

// emfPublished runs the project's metric writers (the evaluate and silence functions' and the
// aggregate function's) and reads back what their EMF lines declare: the names come from the code
// itself, so a renamed metric or dimension fails the test.
func emfPublished(t *testing.T) []published {
	t.Helper()
	var out bytes.Buffer
	st := evaluator.Stats{Records: 3, Readings: 2, Rejected: map[reading.Reason]int{reading.BadMetric: 1},
		Alerts: map[evaluator.AlertKey]int{{Kind: alert.Open, Severity: alert.Warning}: 1}}
	now := time.Now()
	if err := lambdametrics.Write(&out, "evaluate", st, map[string]int{"DynamoDB.Query": 1}, now); err != nil {
		t.Fatal(err)
	}
	if err := lambdametrics.Write(&out, "silence", st, nil, now, lambdametrics.Metric{Name: "DueDevices"}, lambdametrics.Metric{Name: "DueLag"}); err != nil {
		t.Fatal(err)
	}
	if err := notifylambda.WriteMetrics(&out, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := firehosebronze.WriteMetrics(&out, firehosebronze.Stats{}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := aggregate.NewHandler(noHours{}, aggregate.DefaultConfig, nil, &out).Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	var got []published
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var values map[string]any
		json.Unmarshal(sc.Bytes(), &values)
		var line struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("an EMF line is not JSON: %s", sc.Text())
		}
		for _, d := range line.AWS.CloudWatchMetrics {
			for _, dims := range d.Dimensions {
				// the project's dimensions with their values (Function=evaluate): an alarm names them too
				named := make([]string, len(dims))
				for i, name := range dims {
					named[i] = fmt.Sprintf("%s=%v", name, values[name])
				}
				sort.Strings(named)
				for _, m := range d.Metrics {
					got = append(got, published{d.Namespace, m.Name, strings.Join(named, ",")})
				}
			}
		}
	}
	return got
}

// filterPublished are the metrics the template's metric filters publish (no dimensions).
func filterPublished() []published {
	var out []published
	for _, f := range resources("AWS::Logs::MetricFilter") {
		ts, _ := f["MetricTransformations"].([]any)
		for _, tr := range ts {
			m := tr.(map[string]any)
			out = append(out, published{m["MetricNamespace"].(string), m["MetricName"].(string), ""})
		}
	}
	return out
}

type noHours struct{}

func (noHours) AggregateHour(context.Context, aggregate.Hour) (aggregate.HourResult, error) {
	return aggregate.HourResult{}, nil
}

// watched lists the metrics the template's alarms watch, by alarm.
func watched() map[string][]published {
	out := map[string][]published{}
	// a dimension whose value is a string in the template (the project's own) is name=value; one
	// whose value is a resource's (a function's name, a queue's) is its name alone
	dimsOf := func(v any) string {
		var names []string
		ds, _ := v.([]any)
		for _, d := range ds {
			dm := d.(map[string]any)
			if s, ok := dm["Value"].(string); ok {
				names = append(names, dm["Name"].(string)+"="+s)
			} else {
				names = append(names, dm["Name"].(string))
			}
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	for id, a := range resources("AWS::CloudWatch::Alarm") {
		if name, ok := a["MetricName"].(string); ok {
			out[id] = append(out[id], published{a["Namespace"].(string), name, dimsOf(a["Dimensions"])})
		}
		ms, _ := a["Metrics"].([]any)
		for _, m := range ms {
			stat, ok := m.(map[string]any)["MetricStat"].(map[string]any)
			if !ok {
				continue // the expression
			}
			metric := stat["Metric"].(map[string]any)
			out[id] = append(out[id], published{metric["Namespace"].(string), metric["MetricName"].(string), dimsOf(metric["Dimensions"])})
		}
	}
	return out
}

// TestAlarmsWatchPublishedMetrics: every alarm watches a metric, with dimensions, that a service
// publishes (the documentation's table above) or that the project's code emits (EMF, read back
// from the code's own writers). An alarm on a metric nobody publishes never fires: this test
// refuses it. `make alarms-check` prints the table.
func TestAlarmsWatchPublishedMetrics(t *testing.T) {
	known := map[published]string{}
	for _, p := range awsPublished {
		known[p] = "AWS documentation"
	}
	for _, p := range emfPublished(t) {
		known[p] = "the project's code"
	}
	for _, p := range filterPublished() {
		known[p] = "a metric filter of the stack"
	}
	alarms := watched()
	ids := make([]string, 0, len(alarms))
	for id := range alarms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var table strings.Builder
	fmt.Fprintf(&table, "%-32s %-14s %-46s %-22s %s\n", "alarm", "namespace", "metric", "dimensions", "published by")
	for _, id := range ids {
		for _, m := range alarms[id] {
			by, ok := known[m]
			if !ok {
				by = "NOBODY"
				t.Errorf("alarm %s watches %s %s with dimensions [%s], which nobody publishes", id, m.namespace, m.name, m.dims)
			}
			fmt.Fprintf(&table, "%-32s %-14s %-46s %-22s %s\n", alarmName(id), m.namespace, m.name, m.dims, by)
		}
	}
	if len(ids) < 25 {
		t.Errorf("%d alarms found", len(ids))
	}
	t.Log("\n" + table.String())
}

// alarmName is an alarm's logical id without the construct's prefix and CDK's hash.
func alarmName(id string) string {
	id = strings.TrimPrefix(id, "Operations")
	if len(id) > 8 {
		return id[:len(id)-8]
	}
	return id
}
