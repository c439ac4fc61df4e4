// Package stream is an in-process stand-in for a Kinesis stream and its Lambda event source
// mapping: records are spread over shards by partition key (so one device's records stay in
// order), and each shard's consumer hands batches in the Kinesis event shape to a handler, with
// the mapping's semantics: a batch size and a batching window, partial batch failures retried
// from the lowest failed sequence number, bisection of a batch whose invocation failed, bounded
// retries, and an on-failure destination for what is given up.
package stream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is the evaluate function's signature.
type Handler func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error)

// Config tunes the stream and the mapping.
type Config struct {
	Shards       int           // default 2
	BatchSize    int           // default 500
	BatchWindow  time.Duration // default 200 ms
	MaxRetries   int           // retries of a failing batch before it is given up; default 10
	RetryBackoff time.Duration // first pause between retries, doubled each time; default 100 ms
	QueueLen     int           // records a shard holds before Put blocks (back pressure); default 100,000
}

func (c *Config) defaults() {
	if c.Shards <= 0 {
		c.Shards = 2
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.BatchWindow <= 0 {
		c.BatchWindow = 200 * time.Millisecond
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 10
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 100000
	}
}

// Record is one record put on the stream.
type Record struct {
	Data         []byte
	PartitionKey string
	Arrival      time.Time
}

// Failure is what the on-failure destination receives: records given up, and why.
type Failure struct {
	Shard   int
	Records []events.KinesisEventRecord
	Err     error
}

// Stream is the stream and its consumers.
type Stream struct {
	cfg       Config
	handler   Handler
	onFailure func(Failure)
	shards    []*shard
	wg        sync.WaitGroup
	mu        sync.RWMutex
	closed    bool
	queued    atomic.Int64
	batches   atomic.Int64
	retries   atomic.Int64
}

type shard struct {
	id  int
	in  chan Record
	seq uint64
}

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("stream closed")

// New returns a stream; Start its consumers.
func New(cfg Config, h Handler, onFailure func(Failure)) *Stream {
	cfg.defaults()
	s := &Stream{cfg: cfg, handler: h, onFailure: onFailure}
	for i := 0; i < cfg.Shards; i++ {
		s.shards = append(s.shards, &shard{id: i, in: make(chan Record, cfg.QueueLen)})
	}
	return s
}

// Start runs one consumer per shard until Close has drained the shard.
func (s *Stream) Start(ctx context.Context) {
	for _, sh := range s.shards {
		s.wg.Add(1)
		go func(sh *shard) {
			defer s.wg.Done()
			s.consume(ctx, sh)
		}(sh)
	}
}

// Put appends a record to its shard; it blocks while the shard is full.
func (s *Stream) Put(r Record) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	h := fnv.New32a()
	h.Write([]byte(r.PartitionKey))
	s.queued.Add(1)
	s.shards[int(h.Sum32())%len(s.shards)].in <- r
	return nil
}

// Close stops accepting records and waits until every queued record was handled (or given up).
func (s *Stream) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, sh := range s.shards {
			close(sh.in)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Lag is the number of records put and not yet handled.
func (s *Stream) Lag() int64 { return s.queued.Load() }

// Stats returns how many batches were invoked and how many of them were retries.
func (s *Stream) Stats() (batches, retries int64) { return s.batches.Load(), s.retries.Load() }

func (s *Stream) consume(ctx context.Context, sh *shard) {
	for {
		first, ok := <-sh.in
		if !ok {
			return
		}
		batch := []events.KinesisEventRecord{s.record(sh, first)}
		timer := time.NewTimer(s.cfg.BatchWindow)
	fill:
		for len(batch) < s.cfg.BatchSize {
			select {
			case r, ok := <-sh.in:
				if !ok {
					break fill
				}
				batch = append(batch, s.record(sh, r))
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		s.deliver(ctx, sh, batch, 0)
		s.queued.Add(-int64(len(batch)))
	}
}

func (s *Stream) record(sh *shard, r Record) events.KinesisEventRecord {
	sh.seq++
	seq := fmt.Sprintf("%020d%05d", sh.seq, sh.id)
	return events.KinesisEventRecord{
		AwsRegion:      "local",
		EventID:        fmt.Sprintf("shardId-%012d:%s", sh.id, seq),
		EventName:      "aws:kinesis:record",
		EventSource:    "aws:kinesis",
		EventSourceArn: "arn:aws:kinesis:local:000000000000:stream/iotwatch-readings",
		EventVersion:   "1.0",
		Kinesis: events.KinesisRecord{
			Data: r.Data, PartitionKey: r.PartitionKey, SequenceNumber: seq,
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.Arrival}, KinesisSchemaVersion: "1.0",
		},
	}
}

// deliver invokes the handler until the batch is done, as the event source mapping does.
func (s *Stream) deliver(ctx context.Context, sh *shard, batch []events.KinesisEventRecord, attempt int) {
	for len(batch) > 0 {
		s.batches.Add(1)
		resp, err := s.handler(ctx, events.KinesisEvent{Records: batch})
		if err == nil && len(resp.BatchItemFailures) == 0 {
			return
		}
		if attempt >= s.cfg.MaxRetries {
			if err == nil {
				err = fmt.Errorf("%d records still failing after %d retries", len(batch), attempt)
			}
			if s.onFailure != nil {
				s.onFailure(Failure{Shard: sh.id, Records: batch, Err: err})
			}
			return
		}
		attempt++
		s.retries.Add(1)
		pause := s.cfg.RetryBackoff << min(attempt-1, 6)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		if err != nil {
			// The whole invocation failed: bisect, and retry each half on its own.
			if len(batch) > 1 {
				half := len(batch) / 2
				s.deliver(ctx, sh, batch[:half], attempt)
				s.deliver(ctx, sh, batch[half:], attempt)
				return
			}
			continue
		}
		// Partial failure: resume from the lowest failed sequence number.
		lowest := ""
		for _, f := range resp.BatchItemFailures {
			if lowest == "" || less(f.ItemIdentifier, lowest) {
				lowest = f.ItemIdentifier
			}
		}
		i := 0
		for i < len(batch) && batch[i].Kinesis.SequenceNumber != lowest {
			i++
		}
		if i == len(batch) {
			i = 0 // an identifier not in the batch: retry it whole, as Lambda does
		}
		batch = batch[i:]
	}
}

// less compares sequence numbers as numbers.
func less(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
