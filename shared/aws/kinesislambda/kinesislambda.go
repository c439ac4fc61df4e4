// Package kinesislambda is the evaluate function's edge: it turns a Kinesis batch, as the Lambda
// event source mapping delivers it, into the evaluation service's messages, and the service's
// retries into BatchItemFailures (ReportBatchItemFailures). It also reads the function's
// environment and writes its metrics in CloudWatch's Embedded Metric Format. The evaluation
// itself lives in shared/service/evaluator, which knows nothing of Kinesis.
package kinesislambda

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Evaluator is the part of the evaluation service the edge calls.
type Evaluator interface {
	Evaluate(ctx context.Context, msgs []evaluator.Message) (evaluator.Outcome, error)
}

// Handler is the Lambda handler of the evaluate function.
type Handler struct {
	svc Evaluator
	// topicFromKey says that a record's partition key is the device id of the MQTT topic (the
	// IoT rule keys the stream by ${topic(2)}), to be checked against the reading's device_id.
	topicFromKey bool
}

// NewHandler returns the handler; topicFromKey as the stack's topic rule keys the stream (true).
func NewHandler(svc Evaluator, topicFromKey bool) *Handler {
	return &Handler{svc: svc, topicFromKey: topicFromKey}
}

// Messages turns a Kinesis event into the service's messages: the sequence number is the
// message id (what BatchItemFailures report), the event id its source.
func (h *Handler) Messages(ev events.KinesisEvent) []evaluator.Message {
	msgs := make([]evaluator.Message, len(ev.Records))
	for i := range ev.Records {
		r := &ev.Records[i]
		msgs[i] = evaluator.Message{ID: r.Kinesis.SequenceNumber, Source: r.EventID, Data: r.Kinesis.Data,
			Arrival: r.Kinesis.ApproximateArrivalTimestamp.Time}
		if h.topicFromKey {
			msgs[i].TopicDevice = r.Kinesis.PartitionKey
		}
	}
	return msgs
}

// Handle evaluates one batch and reports the records to retry. It fails the invocation only when
// the context is done (the function ran out of time).
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	out, err := h.svc.Evaluate(ctx, h.Messages(ev))
	resp := events.KinesisEventResponse{BatchItemFailures: make([]events.KinesisBatchItemFailure, 0, len(out.Retry))}
	for _, id := range out.Retry {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: id})
	}
	return resp, err
}

// ConfigFromEnv reads the service's settings from the function's environment (getenv is
// os.Getenv): fnenv.CacheTTL (a Go duration, 0 disables) and fnenv.LoadConcurrency, each
// defaulting to evaluator.DefaultConfig.
func ConfigFromEnv(getenv func(string) string) (evaluator.Config, error) {
	cfg := evaluator.DefaultConfig
	if v := getenv(fnenv.CacheTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("%s=%q: want a duration such as 60s", fnenv.CacheTTL, v)
		}
		cfg.CacheTTL = d
	}
	if v := getenv(fnenv.LoadConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			return cfg, fmt.Errorf("%s=%q: want a whole number from 1 to 256", fnenv.LoadConcurrency, v)
		}
		cfg.LoadConcurrency = n
	}
	return cfg, nil
}

// Namespace is the CloudWatch namespace of the pipeline's metrics.
const Namespace = "iotwatch"

// WriteMetrics writes a batch's figures as EMF lines: totals, rejections by reason, alerts by
// kind and severity, and the AWS calls made (calls maps "Service.Operation" to attempts).
func WriteMetrics(w io.Writer, s evaluator.Stats, calls map[string]int, now time.Time) error {
	l := emf.New(Namespace)
	fn := l.With("Function", "evaluate")
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
	rejected := 0
	for reason, n := range s.Rejected {
		l.With("Function", "evaluate", "Reason", string(reason)).Put("Rejected", emf.Count, float64(n))
		rejected += n
	}
	fn.Put("Rejected", emf.Count, float64(rejected))
	alerts := 0
	for k, n := range s.Alerts {
		l.With("Function", "evaluate", "Kind", string(k.Kind), "Severity", string(k.Severity)).Put("Alerts", emf.Count, float64(n))
		alerts += n
	}
	fn.Put("Alerts", emf.Count, float64(alerts))
	return l.Write(w, now)
}
