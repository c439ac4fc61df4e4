// Package lambdametrics writes the evaluation service's figures (evaluator.Stats) as CloudWatch
// Embedded Metric Format lines, for the functions that run the service: evaluate (a Kinesis
// batch) and silence (a scheduled check). Each line carries the dimension Function, so that the
// two functions' figures stay apart and the stack's alarms can watch each.
package lambdametrics

import (
	"io"
	"time"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Namespace is the CloudWatch namespace of the pipeline's metrics.
const Namespace = emf.Namespace

// Metric is one more figure of a function beside its Stats (the silence check's due devices).
type Metric struct {
	Name  string
	Unit  emf.Unit
	Value float64
}

// Write writes one run's figures as EMF lines: totals, rejections by reason, alerts by kind and
// severity, the AWS calls made (calls maps "Service.Operation" to attempts), and extra.
func Write(w io.Writer, function string, s evaluator.Stats, calls map[string]int, now time.Time, extra ...Metric) error {
	l := emf.New(Namespace)
	fn := l.With("Function", function)
	fn.Put("Records", emf.Count, float64(s.Records)).
		Put("Readings", emf.Count, float64(s.Readings)).
		Put("Late", emf.Count, float64(s.Late)).
		Put("Duplicates", emf.Count, float64(s.Duplicates)).
		Put("FailedRecords", emf.Count, float64(s.FailedRecords)).
		Put("FailedDevices", emf.Count, float64(s.FailedDevices)).
		Put("StateWrites", emf.Count, float64(s.StateWrites)).
		Put("StateConflicts", emf.Count, float64(s.StateConflicts)).
		Put("PublishedUncommitted", emf.Count, float64(s.PublishedUncommitted)).
		Put("DevicesLoaded", emf.Count, float64(s.DevicesLoaded)).
		Put("DevicesCached", emf.Count, float64(s.DevicesCached)).
		Put("DynamoDBCalls", emf.Count, float64(awsclient.Service(calls, "DynamoDB"))).
		Put("SNSCalls", emf.Count, float64(awsclient.Service(calls, "SNS"))).
		Put("S3Calls", emf.Count, float64(awsclient.Service(calls, "S3"))).
		Put("BatchDuration", emf.Milliseconds, float64(s.Duration.Microseconds())/1000)
	for _, m := range extra {
		fn.Put(m.Name, m.Unit, m.Value)
	}
	rejected := 0
	for reason, n := range s.Rejected {
		l.With("Function", function, "Reason", string(reason)).Put("Rejected", emf.Count, float64(n))
		rejected += n
	}
	fn.Put("Rejected", emf.Count, float64(rejected))
	alerts := 0
	for k, n := range s.Alerts {
		l.With("Function", function, "Kind", string(k.Kind), "Severity", string(k.Severity)).Put("Alerts", emf.Count, float64(n))
		alerts += n
	}
	fn.Put("Alerts", emf.Count, float64(alerts))
	return l.Write(w, now)
}
