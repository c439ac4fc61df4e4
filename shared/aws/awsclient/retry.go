package awsclient

import (
	"context"
	"fmt"
	"time"
)

// Retry is how an adapter puts again the entries of a batch call that a service refused
// (throttled, an internal failure: the call succeeded, some entries did not). The SDK retries a
// call that failed as a whole; this retries only the refused entries, never one the service took.
type Retry struct {
	// Attempts is how many times an entry is put at most, the first included (less than 1: once).
	Attempts int
	// Backoff is the first wait before a retry, doubled after each.
	Backoff time.Duration
	// StopMargin: under a context with a deadline, no wait starts that would end within this of
	// it (0: any wait that ends before it).
	StopMargin time.Duration
}

// RefusedError says that entries were still refused when RetryRefused gave up.
type RefusedError struct {
	Service  string // the service: "Kinesis", "SNS", "Firehose", "DynamoDB"
	Target   string // what was put on: the stream, topic or table
	Count    int    // entries still refused
	Attempts int    // attempts made
	LastCode string // the last refusal's code and message, as the service answered ("" when it gives none)
	Deadline bool   // the context's deadline stopped the retries before the attempts ran out
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("%s: %d records refused by %s after %d attempts", e.Service, e.Count, e.Target, e.Attempts)
	if e.Deadline {
		msg += ", stopped before the deadline"
	}
	if e.LastCode != "" {
		msg += " (" + e.LastCode + ")"
	}
	return msg
}

// RetryRefused puts entries with put, then puts again, after a wait, the ones put says were
// refused, until none is or r's attempts run out. put makes the calls for what is pending and
// returns the entries the service refused, in order, and the last refusal's code and message.
//
// It returns the entries still refused, and why: nil when every entry was taken; a
// *RefusedError when the attempts ran out, or when the next wait would end within r.StopMargin of
// ctx's deadline; ctx.Err() when ctx ended during a wait. An error of put is returned as it is,
// with the entries of that attempt: put decides which failures are refusals to retry (it returns
// them as refused) and which end the retries (an error).
func RetryRefused[E any](ctx context.Context, r Retry, service, target string, entries []E,
	put func(ctx context.Context, pending []E) (refused []E, lastCode string, err error)) ([]E, error) {
	pending, wait := entries, r.Backoff
	for attempt := 1; len(pending) > 0; attempt++ {
		refused, last, err := put(ctx, pending)
		if err != nil {
			return pending, err
		}
		if len(refused) == 0 {
			return nil, nil
		}
		pending = refused
		gaveUp := &RefusedError{Service: service, Target: target, Count: len(pending), Attempts: attempt, LastCode: last}
		if attempt >= r.Attempts {
			return pending, gaveUp
		}
		if !r.endsBefore(ctx, wait) {
			gaveUp.Deadline = true
			return pending, gaveUp
		}
		if err := sleep(ctx, wait); err != nil {
			return pending, err
		}
		wait *= 2
	}
	return nil, nil
}

// sleep is Sleep; the tests record the waits instead.
var sleep = Sleep

// endsBefore says whether a wait of d still ends StopMargin before ctx's deadline, if it has one.
func (r Retry) endsBefore(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d+r.StopMargin
}
