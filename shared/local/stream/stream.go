// Package stream is an in-process stand-in for a Kinesis stream and its Lambda event source
// mapping: records are spread over shards by partition key (so one device's records stay in
// order), and each shard's consumer hands batches to a handler with the mapping's semantics: a
// batch size and a batching window, partial batch failures retried from the lowest failed
// sequence number, bisection of a batch whose invocation failed, bounded retries, and an
// on-failure destination for what is given up. It carries bytes and knows nothing of what they
// mean: the runner turns its entries into the evaluation service's messages.
package stream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// Handler handles one batch and returns the sequence numbers of the entries to retry (the
// stream resumes from the lowest), or an error for a failed invocation (the batch is bisected).
type Handler func(ctx context.Context, batch []Entry) (retry []string, err error)

// Config tunes the stream and the mapping.
type Config struct {
	Shards       int           // default DefaultShards
	BatchSize    int           // default DefaultBatchSize
	BatchWindow  time.Duration // default DefaultBatchWindow
	MaxRetries   int           // retries of a failing batch before it is given up; default DefaultMaxRetries
	RetryBackoff time.Duration // first pause between retries, doubled each time; default DefaultRetryBackoff
	QueueLen     int           // records a shard holds before Put blocks (back pressure); default DefaultQueueLen
	// Delivered, when set, is called with each batch once it is done with: handled, or given up
	// (not for records left unhandled because the consumers' context ended).
	Delivered func(batch []Entry)
}

// The defaults of Config. A batch writes the state of each device it holds once, with one fsync
// (the file store's journal): with 1,000 devices, batches of up to 2,000 records over 50 ms hold
// a device several times at full speed, and took the pipeline from 0.62-0.68 of its ceiling
// (500 over 20 ms) to 0.71-0.72, the publish-to-alert p99 at 5,000/s from 41-53 ms to 74-75 ms
// (BenchmarkLocalPipeline, 2026-12-01).
const (
	DefaultShards       = 2
	DefaultBatchSize    = 2000
	DefaultBatchWindow  = 50 * time.Millisecond
	DefaultMaxRetries   = 10
	DefaultRetryBackoff = 100 * time.Millisecond
	DefaultQueueLen     = 100000
)

func (c *Config) defaults() {
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWindow <= 0 {
		c.BatchWindow = DefaultBatchWindow
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
}

// Record is one record put on the stream.
type Record struct {
	Data         []byte
	PartitionKey string
	Arrival      time.Time
	// Offset, when not 0, is the record's sequence number (its offset in a durable log, so
	// that it keeps its name across restarts); otherwise the stream numbers it.
	Offset uint64
}

// Entry is a record as the stream delivers it: with its shard and sequence number.
type Entry struct {
	Record
	Shard int
	// Seq is the record's sequence number: decimal digits, increasing within a shard and, as the
	// stream numbers from its start time, across restarts too.
	Seq string
}

// Failure is what the on-failure destination receives: records given up, and why. The
// destination returns an error when it could not keep them: the batch is then not delivered
// (Delivered is not called for it).
type Failure struct {
	Shard   int
	Records []Entry
	Err     error
}

// Stream is the stream and its consumers.
type Stream struct {
	cfg       Config
	handler   Handler
	onFailure func(context.Context, Failure) error
	shards    []*shard
	wg        sync.WaitGroup
	mu        sync.RWMutex
	closed    bool
	queued    atomic.Int64
	stopped   chan struct{} // closed when the consumers' context ends
	stopOnce  sync.Once
	batches   atomic.Int64
	retries   atomic.Int64
}

type shard struct {
	id  int
	in  chan Record
	seq uint64 // the last sequence number given
}

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("stream closed")

// New returns a stream; Start its consumers.
func New(cfg Config, h Handler, onFailure func(context.Context, Failure) error) *Stream {
	cfg.defaults()
	s := &Stream{cfg: cfg, handler: h, onFailure: onFailure, stopped: make(chan struct{})}
	base := uint64(time.Now().UnixNano()) // numbers of a later run are higher: no name repeats
	for i := 0; i < cfg.Shards; i++ {
		s.shards = append(s.shards, &shard{id: i, in: make(chan Record, cfg.QueueLen), seq: base})
	}
	return s
}

// Start runs one consumer per shard until Close has drained the shard, or ctx is done (what is
// still queued then is left unhandled).
func (s *Stream) Start(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.stopOnce.Do(func() { close(s.stopped) })
	}()
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
	select {
	case s.shards[int(h.Sum32())%len(s.shards)].in <- r:
		return nil
	case <-s.stopped: // the consumers are gone: a full shard would wait for ever
		s.queued.Add(-1)
		return ErrClosed
	}
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
		var first Record
		var ok bool
		select {
		case first, ok = <-sh.in:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		batch := []Entry{s.entry(sh, first)}
		timer := time.NewTimer(s.cfg.BatchWindow)
	fill:
		for len(batch) < s.cfg.BatchSize {
			select {
			case r, ok := <-sh.in:
				if !ok {
					break fill
				}
				batch = append(batch, s.entry(sh, r))
			case <-timer.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		timer.Stop()
		if s.deliver(ctx, sh, batch, 0) && s.cfg.Delivered != nil {
			s.cfg.Delivered(batch)
		}
		s.queued.Add(-int64(len(batch)))
	}
}

func (s *Stream) entry(sh *shard, r Record) Entry {
	if r.Offset != 0 {
		return Entry{Record: r, Shard: sh.id, Seq: fmt.Sprintf("%020d", r.Offset)}
	}
	sh.seq++
	return Entry{Record: r, Shard: sh.id, Seq: fmt.Sprintf("%020d", sh.seq)}
}

// deliver invokes the handler until the batch is done, as the event source mapping does; false
// when the context ended first.
func (s *Stream) deliver(ctx context.Context, sh *shard, batch []Entry, attempt int) bool {
	for len(batch) > 0 {
		if ctx.Err() != nil {
			return false // stopped: what is in hand is left unhandled, as documented on Start
		}
		s.batches.Add(1)
		retry, err := s.handler(ctx, batch)
		if err == nil && len(retry) == 0 {
			return true
		}
		if err == nil {
			batch = fromLowest(batch, retry) // what came before it is done, whatever happens next
		}
		if attempt >= s.cfg.MaxRetries {
			if err == nil {
				err = fmt.Errorf("%d records still failing after %d retries", len(batch), attempt)
			}
			if s.onFailure != nil {
				if ferr := s.onFailure(ctx, Failure{Shard: sh.id, Records: batch, Err: err}); ferr != nil {
					return false // not kept: not done with
				}
			}
			return true
		}
		attempt++
		s.retries.Add(1)
		pause := s.cfg.RetryBackoff << min(attempt-1, 6)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		if err != nil && len(batch) > 1 {
			// The whole invocation failed: bisect, and retry each half on its own.
			half := len(batch) / 2
			return s.deliver(ctx, sh, batch[:half], attempt) && s.deliver(ctx, sh, batch[half:], attempt)
		}
		// A partial failure resumes from the lowest failed sequence number (batch starts there).
	}
	return true
}

// fromLowest is the batch from the lowest sequence number of retry on; the whole batch for an
// identifier not in it, as Lambda does.
func fromLowest(batch []Entry, retry []string) []Entry {
	lowest := ""
	for _, seq := range retry {
		if lowest == "" || less(seq, lowest) {
			lowest = seq
		}
	}
	for i := range batch {
		if batch[i].Seq == lowest {
			return batch[i:]
		}
	}
	return batch
}

// less compares sequence numbers as numbers.
func less(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
