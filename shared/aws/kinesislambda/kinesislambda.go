// Package kinesislambda is the evaluate function's edge: it turns a Kinesis batch, as the Lambda
// event source mapping delivers it, into the evaluation service's messages, and the service's
// retries into BatchItemFailures (ReportBatchItemFailures). Its metrics are written by
// shared/aws/lambdametrics; its settings are read by evaluator.ConfigFromEnv. The evaluation
// itself lives in shared/service/evaluator, which knows nothing of Kinesis.
package kinesislambda

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

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
