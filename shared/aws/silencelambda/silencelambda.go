// Package silencelambda is the silence function's edge: on each scheduled event (EventBridge,
// every minute) it lists the devices whose silence or silence reminder is due from the store's due
// index, has the evaluation service check them (the same store, publisher, alert ids and
// conditional state writes as the evaluate function), and writes the run's figures as metrics.
// Its cost follows the devices that are due, never the size of the fleet: the due index is read
// with one Query a shard, and only the due devices are loaded.
package silencelambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iotwatch/iotwatch/shared/aws/lambdametrics"
	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// DueLister finds the devices that are due (the DynamoDB store's due index).
type DueLister interface {
	DueDevices(ctx context.Context, now time.Time) ([]evaluator.DueDevice, error)
}

// Checker is the part of the evaluation service the check calls.
type Checker interface {
	CheckSilence(ctx context.Context, ids []string, now time.Time) (evaluator.Stats, error)
}

// Result is what one run did (the invocation's response, and its metrics).
type Result struct {
	Due        int     `json:"due"`         // devices listed by the due index
	LagSeconds float64 `json:"lag_seconds"` // how long the longest-waiting of them had been due
	Alerts     int     `json:"alerts"`      // alerts published
	Conflicts  int     `json:"conflicts"`   // devices a reading changed meanwhile: the next run looks again
	Failed     int     `json:"failed"`      // devices that failed otherwise (reported as an error)
	// Uncommitted counts alerts published whose state was not recorded (a lost race or a failed
	// write): the next run, or the reading that won, sends them again with the same ids (the
	// evaluator's first duplicate case).
	Uncommitted int `json:"published_uncommitted"`
}

// Handler is the Lambda handler of the silence function.
type Handler struct {
	due     DueLister
	checker Checker
	now     func() time.Time
	metrics io.Writer             // EMF lines (stdout in Lambda); nil: none
	calls   func() map[string]int // AWS calls made since the last run; nil: none
}

// NewHandler returns the handler. now is the clock (time.Now deployed); metrics receives the EMF
// lines of each run and calls the AWS calls it made (awsclient.Counter.Take), either may be nil.
func NewHandler(due DueLister, checker Checker, now func() time.Time, metrics io.Writer, calls func() map[string]int) *Handler {
	return &Handler{due: due, checker: checker, now: now, metrics: metrics, calls: calls}
}

// Handle runs one check on the wall clock (not the event's time: a retried invocation must see
// what fell due since). A device whose state a reading changed meanwhile is left to the next run
// (the conditional write refused the check's state; the reading's own evaluation goes on). Any
// other failure fails the invocation, after every device was tried, so that it is retried and
// alarmed; a retry raises the same alerts with the same ids.
func (h *Handler) Handle(ctx context.Context, _ events.EventBridgeEvent) (Result, error) {
	now := h.now()
	due, err := h.due.DueDevices(ctx, now)
	if err != nil {
		return Result{}, fmt.Errorf("listing the due devices: %w", err)
	}
	res := Result{Due: len(due)}
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.ID
	}
	var st evaluator.Stats
	var checkErr error
	if len(ids) > 0 {
		st, checkErr = h.checker.CheckSilence(ctx, ids, now)
	}
	for _, n := range st.Alerts {
		res.Alerts += n
	}
	res.LagSeconds = st.DueLag.Seconds()
	res.Conflicts = st.StateConflicts
	res.Uncommitted = st.PublishedUncommitted
	res.Failed = st.FailedDevices - st.StateConflicts
	if h.metrics != nil {
		var calls map[string]int
		if h.calls != nil {
			calls = h.calls()
		}
		if err := lambdametrics.Write(h.metrics, "silence", st, calls, now,
			lambdametrics.Metric{Name: "DueDevices", Unit: emf.Count, Value: float64(res.Due)},
			lambdametrics.Metric{Name: "DueLag", Unit: emf.Seconds, Value: res.LagSeconds}); err != nil {
			return res, fmt.Errorf("writing metrics: %w", err)
		}
	}
	if checkErr != nil && (res.Failed > 0 || ctx.Err() != nil || !onlyConflicts(checkErr)) {
		return res, fmt.Errorf("silence check of %d due devices (%d failed): %w", len(ids), res.Failed, checkErr)
	}
	return res, nil
}

// onlyConflicts reports whether every error joined in err is a lost conditional write.
func onlyConflicts(err error) bool {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			if !errors.Is(e, evaluator.ErrConflict) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, evaluator.ErrConflict)
}
