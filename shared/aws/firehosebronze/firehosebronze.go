// Package firehosebronze is the bronze function: it forwards the readings stream's records to the
// bronze Firehose stream, unchanged, many to a Firehose record (joined by newlines; the stream's
// RecordDeAggregation processor splits them again before it partitions each by hour).
//
// Why: Firehose bills ingestion in 5 KB steps per record. Reading the Kinesis stream itself, it
// billed 5 KB for every reading of ~250 bytes, $0.15 a million readings; records of 500 readings
// are billed by their bytes, ~$0.007 (docs/cost.md).
//
// What bronze keeps is what it kept before: one message a line, its bytes as received, without
// the line ends a device put after it (lake.LineMD5 and the decoder leave those out too). A
// message that cannot be one line (a line break inside it, or nothing but line ends) is not
// forwarded: the evaluate function's decoder quarantines it whole (malformed_json), and split
// at its line breaks it would have put lines in bronze the decoder never accepted. It is counted
// (Stats.Unframed) and logged.
package firehosebronze

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/lambdametrics"
	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Firehose's limits (Amazon Data Firehose quotas; "Apply dynamic partitioning to aggregated data").
const (
	// MaxLines is how many sub-records Firehose splits one record into, at most.
	MaxLines = 500
	// MaxRecordBytes is the largest Firehose record, before base64.
	MaxRecordBytes = 1000 * 1024
	// MaxBatchRecords and MaxBatchBytes bound one PutRecordBatch.
	MaxBatchRecords = 500
	MaxBatchBytes   = 4 * 1024 * 1024
)

// Delimiter separates the messages of a Firehose record; the stream's RecordDeAggregation
// processor splits on it (its Delimiter parameter is this, base64).
const Delimiter = lake.RecordDelimiter

// Putter is the part of the Firehose client the forwarder calls.
type Putter interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, opts ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Stats is what became of one batch.
type Stats struct {
	Records   int // Kinesis records in the batch
	Forwarded int // messages Firehose accepted (a retry's again)
	Unframed  int // messages bronze cannot keep as one line (see the package doc)
	Alone     int // messages Firehose cannot partition, each sent in a record of its own
	Sent      int // Firehose records accepted
	Calls     int // PutRecordBatch calls
	Failed    int // Firehose records still refused after every try (their batch is retried)
	Spilled   int // objects written for batched messages' other hours (Spill)
}

// Forwarder sends batches to one Firehose stream.
type Forwarder struct {
	client Putter
	stream string
	log    *slog.Logger
	// Retry is how a refused record is put again (the SDK's own retries of a failed call come on
	// top; a call that still failed refuses all its records): 5 attempts, the first wait 200 ms,
	// none that would end within 5 s of the invocation's deadline.
	awsclient.Retry
	// Observe, when set, gets each batch's Stats.
	Observe func(Stats)
	// Spill, when set, writes a batched message into the bronze partitions of its elements' other
	// hours (nil: only its first element's hour has it).
	Spill *Spill
}

// New returns a forwarder to the named stream.
func New(client Putter, stream string, log *slog.Logger) *Forwarder {
	return &Forwarder{client: client, stream: stream, log: log,
		Retry: awsclient.Retry{Attempts: 5, Backoff: 200 * time.Millisecond, StopMargin: 5 * time.Second}}
}

// record is one Firehose record: messages joined by Delimiter, how many, and the index in the
// batch of the first Kinesis record it holds.
type record struct {
	data  []byte
	lines int
	first int
}

// Frame returns a message as bronze keeps it (lake.BronzeLine), and whether it can be forwarded:
// one line, and no larger than a Firehose record.
func Frame(data []byte) ([]byte, bool) {
	line, ok := lake.BronzeLine(data)
	return line, ok && len(line) <= MaxRecordBytes
}

// records packs the batch's messages, in order, into Firehose records of at most MaxLines
// messages and MaxRecordBytes bytes. A message Firehose cannot partition (no event_time its JQ
// reads: reading.PartitionHour answers as it does) goes in a record of its own, so that however
// Firehose sends it to errors/ (that sub-record, or the whole record), no reading goes with it.
func (f *Forwarder) records(ev events.KinesisEvent, st *Stats, spill *spillLines) []record {
	var out []record
	var cur *record
	for i := range ev.Records {
		line, ok := Frame(ev.Records[i].Kinesis.Data)
		if !ok {
			st.Unframed++
			f.log.Warn("not forwarded to bronze: the message cannot be one line (the evaluate function quarantines it)",
				"event_id", ev.Records[i].EventID, "bytes", len(ev.Records[i].Kinesis.Data))
			continue
		}
		if f.Spill != nil {
			spill.add(i, ev.Records[i].Kinesis.SequenceNumber, line)
		}
		if _, partitioned := reading.PartitionHour(line, "event_time"); !partitioned {
			st.Alone++
			out = append(out, record{first: i, lines: 1, data: append([]byte(nil), line...)})
			cur = nil
			continue
		}
		if cur == nil || cur.lines == MaxLines || len(cur.data)+len(Delimiter)+len(line) > MaxRecordBytes {
			out = append(out, record{first: i, data: make([]byte, 0, min(MaxRecordBytes, 64*1024))})
			cur = &out[len(out)-1]
		} else {
			cur.data = append(cur.data, Delimiter...)
		}
		cur.data = append(cur.data, line...)
		cur.lines++
	}
	return out
}

// Handle forwards one batch. Records Firehose still refuses after every attempt are reported as
// the batch item failure of the first Kinesis record they hold: Kinesis delivers the batch again
// from there, and what follows it is forwarded again (silver keeps one row per reading identity).
func (f *Forwarder) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	st := Stats{Records: len(ev.Records)}
	var spill spillLines
	recs := f.records(ev, &st, &spill)
	all := make([]int, len(recs)) // indexes into recs, in order
	for i := range all {
		all[i] = i
	}
	pending, err := awsclient.RetryRefused(ctx, f.Retry, "Firehose", f.stream, all, func(ctx context.Context, pending []int) ([]int, string, error) {
		return f.put(ctx, recs, pending, &st)
	})
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	from := -1 // the first Kinesis record not landed whole: the batch is retried from it
	if len(pending) > 0 {
		st.Failed = len(pending)
		from = recs[pending[0]].first // pending stays in batch order
		f.log.Error("bronze records not forwarded: the batch is retried from the first of them",
			"records", len(pending), "from_sequence", ev.Records[from].Kinesis.SequenceNumber, "err", err)
	}
	if f.Spill != nil {
		spilledFrom, n, serr := f.Spill.put(ctx, &spill)
		st.Spilled = n
		if spilledFrom >= 0 {
			f.log.Error("batched messages not written to their other hours: the batch is retried from the first of them",
				"from_sequence", ev.Records[spilledFrom].Kinesis.SequenceNumber, "err", serr)
			if from < 0 || spilledFrom < from {
				from = spilledFrom
			}
		}
	}
	if from >= 0 {
		resp.BatchItemFailures = append(resp.BatchItemFailures,
			events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[from].Kinesis.SequenceNumber})
	}
	if f.Observe != nil {
		f.Observe(st)
	}
	return resp, nil
}

// put sends the pending records in calls of at most MaxBatchRecords and MaxBatchBytes, and
// returns the ones Firehose refused, in order: a call that failed, or answered for another
// number of records, refuses all of its own (they are put again).
func (f *Forwarder) put(ctx context.Context, recs []record, pending []int, st *Stats) (refused []int, last string, _ error) {
	for start := 0; start < len(pending); {
		end, size := start, 0
		for end < len(pending) && end-start < MaxBatchRecords && size+len(recs[pending[end]].data) <= MaxBatchBytes {
			size += len(recs[pending[end]].data)
			end++
		}
		chunk := pending[start:end]
		start = end
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(f.stream), Records: make([]types.Record, len(chunk))}
		for j, k := range chunk {
			in.Records[j] = types.Record{Data: recs[k].data}
		}
		st.Calls++
		out, err := f.client.PutRecordBatch(ctx, in)
		if err != nil {
			last = fmt.Sprintf("putting %d records: %v", len(chunk), err)
			refused = append(refused, chunk...)
			continue
		}
		if len(out.RequestResponses) != len(chunk) {
			last = fmt.Sprintf("%d entries answered for %d records", len(out.RequestResponses), len(chunk))
			refused = append(refused, chunk...)
			continue
		}
		for j, rr := range out.RequestResponses {
			if rr.ErrorCode != nil {
				last = aws.ToString(rr.ErrorCode) + ": " + aws.ToString(rr.ErrorMessage)
				refused = append(refused, chunk[j])
				continue
			}
			st.Sent++
			st.Forwarded += recs[chunk[j]].lines
		}
	}
	return refused, last, nil
}

// WriteMetrics writes a batch's Stats as EMF lines of the pipeline's namespace, dimension
// Function=bronze.
func WriteMetrics(w io.Writer, s Stats, now time.Time) error {
	l := emf.New(lambdametrics.Namespace)
	l.With("Function", "bronze").
		Put("Records", emf.Count, float64(s.Records)).
		Put("Forwarded", emf.Count, float64(s.Forwarded)).
		Put("Unframed", emf.Count, float64(s.Unframed)).
		Put("Unpartitioned", emf.Count, float64(s.Alone)).
		Put("FirehoseRecords", emf.Count, float64(s.Sent)).
		Put("FirehoseCalls", emf.Count, float64(s.Calls)).
		Put("FailedFirehoseRecords", emf.Count, float64(s.Failed)).
		Put("SpilledObjects", emf.Count, float64(s.Spilled))
	return l.Write(w, now)
}
