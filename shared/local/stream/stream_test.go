package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// recorder is a handler that records what it saw and fails as told.
type recorder struct {
	mu       sync.Mutex
	seen     map[string][]string // partition key -> data, in order of successful handling
	calls    int
	failOnce map[string]bool // data that fails (item failure) the first time it is seen
	errUntil int             // invocations that return an error
}

func (r *recorder) handle(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.errUntil {
		return events.KinesisEventResponse{}, errors.New("invocation failed")
	}
	for _, rec := range ev.Records {
		d := string(rec.Kinesis.Data)
		if r.failOnce[d] {
			delete(r.failOnce, d)
			return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: rec.Kinesis.SequenceNumber}}}, nil
		}
		r.seen[rec.Kinesis.PartitionKey] = append(r.seen[rec.Kinesis.PartitionKey], d)
	}
	return events.KinesisEventResponse{}, nil
}

func TestOrderRetriesAndDrain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOnce map[string]bool
		errUntil int
	}{
		{"clean", nil, 0},
		{"partial failures resume from the failed record", map[string]bool{"d1-5": true, "d2-40": true}, 0},
		{"failed invocations bisect and retry", nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{seen: map[string][]string{}, failOnce: tc.failOnce, errUntil: tc.errUntil}
			if r.failOnce == nil {
				r.failOnce = map[string]bool{}
			}
			var failures []Failure
			s := New(Config{Shards: 2, BatchSize: 16, BatchWindow: 5 * time.Millisecond, RetryBackoff: time.Millisecond}, r.handle,
				func(f Failure) { failures = append(failures, f) })
			s.Start(context.Background())
			for i := 0; i < 100; i++ {
				for d := 1; d <= 3; d++ {
					s.Put(Record{Data: []byte(fmt.Sprintf("d%d-%d", d, i)), PartitionKey: fmt.Sprintf("d%d", d), Arrival: time.Now()})
				}
			}
			s.Close()
			if err := s.Put(Record{PartitionKey: "x"}); err != ErrClosed {
				t.Errorf("Put after Close = %v", err)
			}
			for d := 1; d <= 3; d++ {
				got := r.seen[fmt.Sprintf("d%d", d)]
				// every record handled, in order; a retried suffix may repeat records, as Kinesis does
				last, n := -1, 0
				for _, v := range got {
					var dd, i int
					fmt.Sscanf(v, "d%d-%d", &dd, &i)
					if i > last+1 || (i <= last && i < last-16) {
						t.Fatalf("device %d: %s after %d: out of order", d, v, last)
					}
					if i > last {
						last, n = i, n+1
					}
				}
				if n != 100 {
					t.Errorf("device %d: %d distinct records handled; want 100", d, n)
				}
			}
			if len(failures) != 0 || s.Lag() != 0 {
				t.Errorf("failures %v, lag %d", failures, s.Lag())
			}
		})
	}
}

func TestGivesUpAfterRetries(t *testing.T) {
	var mu sync.Mutex
	var failed []Failure
	s := New(Config{Shards: 1, BatchSize: 10, BatchWindow: time.Millisecond, MaxRetries: 2, RetryBackoff: time.Millisecond},
		func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			return events.KinesisEventResponse{}, errors.New("always")
		}, func(f Failure) { mu.Lock(); failed = append(failed, f); mu.Unlock() })
	s.Start(context.Background())
	for i := 0; i < 4; i++ {
		s.Put(Record{Data: []byte{byte(i)}, PartitionKey: "k"})
	}
	s.Close()
	n := 0
	for _, f := range failed {
		n += len(f.Records)
	}
	if n != 4 {
		t.Errorf("%d records given up; want 4 (%v)", n, failed)
	}
}
