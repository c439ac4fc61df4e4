package awsclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRetryRefused(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name     string
		r        Retry
		deadline time.Duration // 0: none
		// refuse says which entries an attempt (from 1) refuses; err, when set, fails that attempt.
		refuse func(attempt, entry int) bool
		err    func(attempt int) error
		cancel int // the attempt after which the context is cancelled (0: never)

		calls   [][]int         // the entries of each put
		waits   []time.Duration // the waits between them
		left    []int
		wantErr error         // errors.Is
		refused *RefusedError // errors.As, when set
	}{
		{name: "every entry taken at once", r: Retry{Attempts: 3, Backoff: time.Second},
			refuse: func(int, int) bool { return false },
			calls:  [][]int{{0, 1, 2, 3}}},
		{name: "only the refused are put again, until taken", r: Retry{Attempts: 5, Backoff: 100 * time.Millisecond},
			refuse: func(a, e int) bool { return a == 1 && e%2 == 0 || a == 2 && e == 0 },
			calls:  [][]int{{0, 1, 2, 3}, {0, 2}, {0}},
			waits:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "the attempts run out; the waits double", r: Retry{Attempts: 4, Backoff: 50 * time.Millisecond},
			refuse: func(a, e int) bool { return e == 3 || e == 1 && a < 4 },
			calls:  [][]int{{0, 1, 2, 3}, {1, 3}, {1, 3}, {1, 3}},
			waits:  []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
			left:   []int{3},
			refused: &RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 4,
				LastCode: "Throttled: entry 3 of attempt 4"}},
		{name: "fewer than one attempt is one", r: Retry{Backoff: time.Second},
			refuse:  func(_, e int) bool { return e == 0 },
			calls:   [][]int{{0, 1, 2, 3}},
			left:    []int{0},
			refused: &RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 1, LastCode: "Throttled: entry 0 of attempt 1"}},
		{name: "no wait that would end within the margin of the deadline",
			r:        Retry{Attempts: 10, Backoff: time.Second, StopMargin: 5 * time.Second},
			deadline: 10 * time.Second, // 1 s, 2 s, 4 s end before 5 s from it; 8 s does not
			refuse:   func(_, e int) bool { return e == 2 },
			calls:    [][]int{{0, 1, 2, 3}, {2}, {2}, {2}},
			waits:    []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			left:     []int{2},
			refused: &RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 4,
				LastCode: "Throttled: entry 2 of attempt 4", Deadline: true}},
		{name: "without a margin, no wait past the deadline",
			r:        Retry{Attempts: 10, Backoff: 4 * time.Second},
			deadline: 10 * time.Second, // 4 s and 8 s end before it; 16 s does not
			refuse:   func(_, e int) bool { return e == 2 },
			calls:    [][]int{{0, 1, 2, 3}, {2}, {2}},
			waits:    []time.Duration{4 * time.Second, 8 * time.Second},
			left:     []int{2},
			refused: &RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 3,
				LastCode: "Throttled: entry 2 of attempt 3", Deadline: true}},
		{name: "a failed call is returned as it is, not retried", r: Retry{Attempts: 5, Backoff: time.Second},
			refuse:  func(a, e int) bool { return a == 1 && e > 1 },
			err:     func(a int) error { return map[bool]error{true: boom}[a == 2] },
			calls:   [][]int{{0, 1, 2, 3}, {2, 3}},
			waits:   []time.Duration{time.Second},
			left:    []int{2, 3},
			wantErr: boom},
		{name: "the context ends during a wait", r: Retry{Attempts: 5, Backoff: time.Second},
			refuse:  func(int, int) bool { return true },
			cancel:  2,
			calls:   [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}},
			waits:   []time.Duration{time.Second},
			left:    []int{0, 1, 2, 3},
			wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.deadline > 0 {
				var stop context.CancelFunc
				ctx, stop = context.WithTimeout(ctx, tc.deadline)
				defer stop()
			}
			var waits []time.Duration
			sleep = func(ctx context.Context, d time.Duration) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				waits = append(waits, d)
				return nil
			}
			defer func() { sleep = Sleep }()

			var calls [][]int
			left, err := RetryRefused(ctx, tc.r, "Kinesis", "readings", []int{0, 1, 2, 3},
				func(_ context.Context, pending []int) ([]int, string, error) {
					calls = append(calls, slices.Clone(pending))
					attempt := len(calls)
					if attempt == tc.cancel {
						cancel()
					}
					if tc.err != nil {
						if err := tc.err(attempt); err != nil {
							return nil, "", err
						}
					}
					var refused []int
					last := ""
					for _, e := range pending {
						if tc.refuse(attempt, e) {
							refused = append(refused, e)
							last = fmt.Sprintf("Throttled: entry %d of attempt %d", e, attempt)
						}
					}
					return refused, last, nil
				})

			if !slices.EqualFunc(calls, tc.calls, slices.Equal[[]int]) {
				t.Errorf("calls = %v; want %v", calls, tc.calls)
			}
			if !slices.Equal(waits, tc.waits) {
				t.Errorf("waits = %v; want %v", waits, tc.waits)
			}
			if !slices.Equal(left, tc.left) {
				t.Errorf("left = %v; want %v", left, tc.left)
			}
			switch {
			case tc.refused != nil:
				var re *RefusedError
				if !errors.As(fmt.Errorf("putting: %w", err), &re) {
					t.Fatalf("err = %v; want a *RefusedError", err)
				}
				if *re != *tc.refused {
					t.Errorf("err = %+v; want %+v", *re, *tc.refused)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v; want %v", err, tc.wantErr)
				}
				var re *RefusedError
				if errors.As(err, &re) {
					t.Errorf("err = %v is a *RefusedError", err)
				}
			case err != nil:
				t.Errorf("err = %v; want nil", err)
			}
		})
	}
}

func TestRefusedErrorSays(t *testing.T) {
	for _, tc := range []struct {
		e    RefusedError
		want string
	}{
		{RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 3, LastCode: "ProvisionedThroughputExceededException: Rate exceeded"},
			"Kinesis: 1 records refused by readings after 3 attempts (ProvisionedThroughputExceededException: Rate exceeded)"},
		{RefusedError{Service: "DynamoDB", Target: "iotwatch", Count: 4, Attempts: 8},
			"DynamoDB: 4 records refused by iotwatch after 8 attempts"},
		{RefusedError{Service: "Firehose", Target: "bronze", Count: 2, Attempts: 2, LastCode: "ServiceUnavailableException: Slow down", Deadline: true},
			"Firehose: 2 records refused by bronze after 2 attempts, stopped before the deadline (ServiceUnavailableException: Slow down)"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}
