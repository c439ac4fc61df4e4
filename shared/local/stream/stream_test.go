package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a handler that records what it saw and fails as told.
type recorder struct {
	mu       sync.Mutex
	seen     map[string][]string // partition key -> data, in order of successful handling
	calls    int
	failOnce map[string]bool // data that fails (item failure) the first time it is seen
	errUntil int             // invocations that return an error
	sizes    []int           // batch size of each invocation
}

func (r *recorder) handle(_ context.Context, batch []Entry) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.sizes = append(r.sizes, len(batch))
	if r.calls <= r.errUntil {
		return nil, errors.New("invocation failed")
	}
	for _, e := range batch {
		d := string(e.Data)
		if r.failOnce[d] {
			delete(r.failOnce, d)
			return []string{e.Seq}, nil
		}
		r.seen[e.PartitionKey] = append(r.seen[e.PartitionKey], d)
	}
	return nil, nil
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
				func(_ context.Context, f Failure) error { failures = append(failures, f); return nil })
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
		func(context.Context, []Entry) ([]string, error) {
			return nil, errors.New("always")
		}, func(_ context.Context, f Failure) error {
			mu.Lock()
			failed = append(failed, f)
			mu.Unlock()
			return nil
		})
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

// TestFailedInvocationIsBisected tells a bisection from a plain retry: after a failed invocation
// of n records the next two invocations carry n/2 and n - n/2 records, and each half is handled.
func TestFailedInvocationIsBisected(t *testing.T) {
	r := &recorder{seen: map[string][]string{}, failOnce: map[string]bool{}, errUntil: 1}
	s := New(Config{Shards: 1, BatchSize: 10, BatchWindow: time.Second, RetryBackoff: time.Millisecond}, r.handle, nil)
	for i := 0; i < 10; i++ {
		require.NoError(t, s.Put(Record{Data: []byte(fmt.Sprint(i)), PartitionKey: "k"}))
	}
	s.Start(context.Background())
	s.Close()
	assert.Equal(t, []int{10, 5, 5}, r.sizes, "a failed batch of 10, then its two halves")
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, r.seen["k"])
	batches, retries := s.Stats()
	assert.Equal(t, int64(3), batches)
	assert.Equal(t, int64(1), retries)
}

// TestSequenceNumbersGrowAcrossRestarts: a stream started later numbers its records higher, so
// names derived from them (quarantine objects) never repeat after a restart.
func TestSequenceNumbersGrowAcrossRestarts(t *testing.T) {
	var seqs []string
	for range 2 {
		s := New(Config{Shards: 1, BatchWindow: time.Millisecond}, func(_ context.Context, b []Entry) ([]string, error) {
			for _, e := range b {
				seqs = append(seqs, e.Seq)
			}
			return nil, nil
		}, nil)
		s.Start(context.Background())
		require.NoError(t, s.Put(Record{Data: []byte("x"), PartitionKey: "k"}))
		s.Close()
	}
	require.Len(t, seqs, 2)
	assert.True(t, less(seqs[0], seqs[1]), "second run's %s not after the first's %s", seqs[1], seqs[0])
}

// TestConsumersStopWithTheirContext: a stream whose context ends stops handling.
func TestConsumersStopWithTheirContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := New(Config{Shards: 2, BatchWindow: time.Millisecond}, func(context.Context, []Entry) ([]string, error) { return nil, nil }, nil)
	s.Start(ctx)
	cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("consumers still running 5 s after their context ended")
	}
}

// TestGivingUpKeepsOnlyWhatFailed: after a partial failure the records before the lowest failed
// one are done; giving up hands on only the rest (before, the whole batch was copied to the
// failed records and counted as given up).
func TestGivingUpKeepsOnlyWhatFailed(t *testing.T) {
	var failed []Failure
	s := New(Config{Shards: 1, BatchSize: 5, BatchWindow: time.Second, MaxRetries: 2, RetryBackoff: time.Millisecond},
		func(_ context.Context, b []Entry) ([]string, error) {
			for _, e := range b {
				if string(e.Data) == "2" {
					return []string{e.Seq}, nil
				}
			}
			return nil, nil
		}, func(_ context.Context, f Failure) error { failed = append(failed, f); return nil })
	for i := range 5 {
		require.NoError(t, s.Put(Record{Data: []byte(fmt.Sprint(i)), PartitionKey: "k"}))
	}
	s.Start(context.Background())
	s.Close()
	require.Len(t, failed, 1)
	var given []string
	for _, e := range failed[0].Records {
		given = append(given, string(e.Data))
	}
	assert.Equal(t, []string{"2", "3", "4"}, given)
}

// TestPutAfterTheConsumersStopped: with the consumers gone, a Put on a full shard returns
// instead of waiting for ever (and Close, waiting for Put's lock, with it).
func TestPutAfterTheConsumersStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := New(Config{Shards: 1, QueueLen: 1, BatchWindow: time.Millisecond}, func(context.Context, []Entry) ([]string, error) { return nil, nil }, nil)
	s.Start(ctx)
	cancel()
	s.wg.Wait()
	done := make(chan error, 3)
	go func() {
		for range 3 {
			done <- s.Put(Record{PartitionKey: "k"})
		}
	}()
	for range 3 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Put blocked on a full shard with no consumer")
		}
	}
	s.Close()
}

// TestDeliveredOnlyWhatIsDoneWith: Delivered names each batch handled or given up and kept, and
// never one whose records the on-failure destination could not keep, nor one left when the
// consumers' context ended.
func TestDeliveredOnlyWhatIsDoneWith(t *testing.T) {
	var mu sync.Mutex
	delivered := map[uint64]bool{}
	s := New(Config{Shards: 1, BatchSize: 1, BatchWindow: time.Millisecond, MaxRetries: 1, RetryBackoff: time.Millisecond,
		Delivered: func(batch []Entry) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range batch {
				delivered[e.Offset] = true
			}
		}},
		func(_ context.Context, batch []Entry) ([]string, error) {
			if string(batch[0].Data) == "poison" {
				return nil, errors.New("always fails")
			}
			return nil, nil
		},
		func(_ context.Context, f Failure) error {
			if string(f.Records[0].Data) == "poison" && f.Records[0].Offset == 2 {
				return errors.New("disk full") // not kept
			}
			return nil
		})
	s.Start(context.Background())
	for off, data := range map[uint64]string{1: "ok", 2: "poison", 3: "ok", 4: "poison"} {
		require.NoError(t, s.Put(Record{Data: []byte(data), PartitionKey: "d", Offset: off}))
	}
	s.Close()
	assert.Equal(t, map[uint64]bool{1: true, 3: true, 4: true}, delivered, "offset 2 was not kept: not delivered")
}
