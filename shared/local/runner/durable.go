package runner

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/local/wal"
)

// The log's consumers.
const (
	consumerEvaluate = "evaluate"
	consumerBronze   = "bronze"
	// LogDir is the log's directory in the lake.
	LogDir = "log"
	// pendingHoursFile keeps the hours bronze received and the aggregation has not done yet, so
	// that a crash between the two does not leave an hour without its aggregate.
	pendingHoursFile = "pending-hours.json"
)

// encodeRecord is a message as the log keeps it: the topic's device id (its length as a
// uvarint, then its bytes), the arrival time (Unix nanoseconds, 8 bytes) and the payload.
func encodeRecord(dev string, arrival time.Time, data []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(dev)+8+len(data))
	b = binary.AppendUvarint(b, uint64(len(dev)))
	b = append(b, dev...)
	b = binary.LittleEndian.AppendUint64(b, uint64(arrival.UnixNano()))
	return append(b, data...)
}

func decodeRecord(b []byte) (dev string, arrival time.Time, data []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n+8 {
		return "", time.Time{}, nil, errors.New("a log record too short for its header")
	}
	b = b[k:]
	dev, b = string(b[:n]), b[n:]
	arrival = time.Unix(0, int64(binary.LittleEndian.Uint64(b[:8])))
	return dev, arrival, b[8:], nil
}

// rule is the topic rule's action: the message goes to the log, and is acknowledged once it is
// durable there. The log's consumers take it to the stream (the evaluation) and to bronze (as
// Firehose reads the stream on AWS).
func (p *pipeline) rule(dev string, data []byte, done func(error)) {
	if f := p.unreadable.Load(); f != nil {
		// A reader cannot go on: what is taken now could not be landed.
		done(fmt.Errorf("%w: %w", broker.ErrFull, f.err))
		return
	}
	p.log.AppendAsync(encodeRecord(dev, time.Now(), data), func(_ uint64, err error) {
		switch {
		case err == nil:
			done(nil)
		case errors.Is(err, wal.ErrClosed):
			done(broker.ErrUnavailable)
		case errors.Is(err, wal.ErrFull):
			done(fmt.Errorf("%w: %w", broker.ErrFull, err))
		default:
			done(err)
		}
	})
}

// tracker follows the offsets handed to the stream and which of them are done, out of order
// (shards finish at their own pace), so that the evaluation's checkpoint is the lowest offset
// not yet done. Its memory is the records in flight, which the stream's queues bound.
type tracker struct {
	mu      sync.Mutex
	pending []uint64 // handed out, in order; pending[head:] are not all done
	head    int
	done    map[uint64]bool
	next    uint64 // the offset after the last handed out
}

func newTracker(from uint64) *tracker { return &tracker{done: map[uint64]bool{}, next: from} }

func (t *tracker) add(off uint64) {
	t.mu.Lock()
	t.pending = append(t.pending, off)
	t.next = off + 1
	t.mu.Unlock()
}

func (t *tracker) markDone(batch []stream.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range batch {
		t.done[e.Offset] = true
	}
	for t.head < len(t.pending) && t.done[t.pending[t.head]] {
		delete(t.done, t.pending[t.head])
		t.head++
	}
	if t.head > 4096 && t.head*2 > len(t.pending) { // drop the done prefix now and then
		t.pending = append(t.pending[:0], t.pending[t.head:]...)
		t.head = 0
	}
}

// low is the lowest offset not done: everything below it is.
func (t *tracker) low() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head < len(t.pending) {
		return t.pending[t.head]
	}
	return t.next
}

// feedEvaluation reads the log from the evaluation's checkpoint onto the stream, whose small
// queues block it while the evaluation is behind: the lag stays in the log, on disk.
func (p *pipeline) feedEvaluation(ctx context.Context) {
	r := p.log.Reader(p.log.Checkpointed(consumerEvaluate))
	defer r.Close()
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, wal.ErrClosed) && ctx.Err() == nil {
				p.readerFailed(consumerEvaluate, fmt.Errorf("reading the log for the evaluation: %w", err))
			}
			return
		}
		p.tracker.add(rec.Offset)
		dev, arrival, data, err := decodeRecord(rec.Data)
		if err != nil { // checksummed: only a bug writes such a record; it is skipped, and said
			p.fail(fmt.Errorf("log record %d: %w", rec.Offset, err))
			p.tracker.markDone([]stream.Entry{{Record: stream.Record{Offset: rec.Offset}}})
			continue
		}
		if err := p.stream.Put(stream.Record{Data: append([]byte(nil), data...), PartitionKey: dev, Arrival: arrival,
			Offset: rec.Offset}); err != nil {
			return // stopped
		}
	}
}

// feedBronze reads the log from bronze's checkpoint into the bronze writer; a write that fails
// (a full disk) is tried again, never skipped.
func (p *pipeline) feedBronze(ctx context.Context) {
	r := p.log.Reader(p.log.Checkpointed(consumerBronze))
	defer r.Close()
	for ctx.Err() == nil { // stopped (an abort): the rest stays in the log
		rec, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, wal.ErrClosed) && ctx.Err() == nil {
				p.readerFailed(consumerBronze, fmt.Errorf("reading the log for bronze: %w", err))
			}
			return
		}
		if _, _, data, err := decodeRecord(rec.Data); err == nil {
			if err := p.retry(ctx, "writing bronze", func() error { return p.bronze.Add(data) }); err != nil {
				return
			}
		}
		p.bronzeNext.Store(rec.Offset + 1)
	}
}

// retry calls write until it succeeds, pausing 100 ms, then twice as long each time up to 5 s,
// and saying each failure; it returns the last error when ctx ends first. A lake write that
// fails (a full disk) is waited for, never skipped.
func (p *pipeline) retry(ctx context.Context, what string, write func() error) error {
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
		err := write()
		if err == nil {
			return nil
		}
		p.cfg.Log.Error(what+"; trying again", "err", err, "pause", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

// checkpoint records what the consumers are done with. The evaluation's batches are done once
// their states are in the store's journal and their alerts and rejections in the lake (each
// fsynced by its writer), so its checkpoint is the tracker's low mark. Bronze buffers records:
// its checkpoint moves when its buffers are written, every BronzeEvery (or when forced).
func (p *pipeline) checkpoint(force bool) {
	if err := p.log.Checkpoint(consumerEvaluate, p.tracker.low()); err != nil {
		p.cfg.Log.Error("checkpoint of the evaluation", "err", err)
	}
	if !force && time.Since(p.bronzeFlushed) < p.bronze.MaxAge {
		return
	}
	hi := p.bronzeNext.Load() // before the flush: everything below it is in the buffers
	if err := p.bronze.Flush(); err != nil {
		p.cfg.Log.Error("writing bronze; tried again at the next checkpoint", "err", err)
		return
	}
	p.bronzeFlushed = time.Now()
	if err := p.savePendingHours(); err != nil {
		p.cfg.Log.Error("keeping the hours to aggregate; tried again at the next checkpoint", "err", err)
		return
	}
	if hi > 0 {
		if err := p.log.Checkpoint(consumerBronze, hi); err != nil {
			p.cfg.Log.Error("checkpoint of bronze", "err", err)
		}
	}
}

// savePendingHours writes the hours bronze received that are not aggregated yet.
func (p *pipeline) savePendingHours() error {
	if p.cfg.Aggregator == nil {
		return nil
	}
	b, err := json.Marshal(p.bronze.Pending())
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(p.cfg.Lake, LogDir, pendingHoursFile), b, 0o644)
}

// loadPendingHours marks the hours a run before this one left unaggregated.
func (p *pipeline) loadPendingHours() error {
	b, err := os.ReadFile(filepath.Join(p.cfg.Lake, LogDir, pendingHoursFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the hours to aggregate: %w", err)
	}
	var hours []time.Time
	if err := json.Unmarshal(b, &hours); err != nil {
		return fmt.Errorf("reading the hours to aggregate: %w", err)
	}
	p.bronze.Touch(hours...)
	return nil
}

// readerFault is a reader of the log that cannot go on.
type readerFault struct {
	consumer string
	err      error
}

// readerFailed says at once that a reader of the log stopped: /healthz fails, /metrics counts
// it, and the broker stops acknowledging (nothing taken now could be landed).
func (p *pipeline) readerFailed(consumer string, err error) {
	p.fail(err)
	p.readErrors[consumer].Add(1)
	p.unreadable.CompareAndSwap(nil, &readerFault{consumer, err})
	p.cfg.Log.Error("LOG UNREADABLE: a reader of the log stopped; not acknowledging messages (restart after repairing the log)",
		"consumer", consumer, "err", err)
}
