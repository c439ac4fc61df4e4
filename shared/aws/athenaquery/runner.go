// Package athenaquery runs statements on Athena: StartQueryExecution in the pipeline's workgroup
// with every value passed as ExecutionParameters, then GetQueryExecution with backoff until the
// query ends. FAILED, CANCELLED and time-outs are errors that say why.
package athenaquery

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Client is the part of the Athena API the runner uses.
type Client interface {
	StartQueryExecution(ctx context.Context, in *athena.StartQueryExecutionInput, opts ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
	GetQueryExecution(ctx context.Context, in *athena.GetQueryExecutionInput, opts ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
	StopQueryExecution(ctx context.Context, in *athena.StopQueryExecutionInput, opts ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error)
}

// Runner runs statements in one workgroup and database.
type Runner struct {
	client    Client
	workgroup string
	database  string
	// FirstPoll is the first wait before asking for the state; each wait doubles up to MaxPoll.
	FirstPoll, MaxPoll time.Duration
	// Timeout bounds one query; on expiry the query is stopped and an error returned.
	Timeout time.Duration
}

var _ aggregate.QueryRunner = (*Runner)(nil)

// New returns a runner. The workgroup's enforced settings (result location, encryption,
// bytes-scanned cutoff) apply to every query.
func New(client Client, workgroup, database string) *Runner {
	return &Runner{client: client, workgroup: workgroup, database: database,
		FirstPoll: 250 * time.Millisecond, MaxPoll: 5 * time.Second, Timeout: 10 * time.Minute}
}

// Run starts the statement and waits for it to end.
func (r *Runner) Run(ctx context.Context, st aggregate.Statement) (aggregate.QueryStats, error) {
	params := make([]string, len(st.Params))
	for i, p := range st.Params {
		params[i] = p.Literal()
	}
	in := &athena.StartQueryExecutionInput{
		QueryString:           aws.String(st.SQL),
		WorkGroup:             aws.String(r.workgroup),
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String(r.database)},
	}
	if len(params) > 0 {
		in.ExecutionParameters = params
	}
	out, err := r.client.StartQueryExecution(ctx, in)
	if err != nil {
		return aggregate.QueryStats{}, fmt.Errorf("starting %s: %w", st.Name, err)
	}
	id := aws.ToString(out.QueryExecutionId)
	stats := aggregate.QueryStats{ID: id}

	deadline := time.Now().Add(r.Timeout)
	wait := r.FirstPoll
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.stop(id)
			return stats, fmt.Errorf("%s (query %s): %w", st.Name, id, ctx.Err())
		case <-t.C:
		}
		got, err := r.client.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			return stats, fmt.Errorf("reading the state of %s (query %s): %w", st.Name, id, err)
		}
		qe := got.QueryExecution
		if qe != nil && qe.Statistics != nil {
			stats.BytesScanned = aws.ToInt64(qe.Statistics.DataScannedInBytes)
			stats.EngineTime = time.Duration(aws.ToInt64(qe.Statistics.EngineExecutionTimeInMillis)) * time.Millisecond
			stats.TotalTime = time.Duration(aws.ToInt64(qe.Statistics.TotalExecutionTimeInMillis)) * time.Millisecond
		}
		if qe != nil && qe.Status != nil {
			switch qe.Status.State {
			case types.QueryExecutionStateSucceeded:
				return stats, nil
			case types.QueryExecutionStateFailed:
				reason := aws.ToString(qe.Status.StateChangeReason)
				if e := qe.Status.AthenaError; e != nil && aws.ToString(e.ErrorMessage) != "" && reason == "" {
					reason = aws.ToString(e.ErrorMessage)
				}
				return stats, fmt.Errorf("%s (query %s) failed: %s", st.Name, id, reason)
			case types.QueryExecutionStateCancelled:
				return stats, fmt.Errorf("%s (query %s) was cancelled: %s", st.Name, id, aws.ToString(qe.Status.StateChangeReason))
			}
		}
		if time.Now().After(deadline) {
			r.stop(id)
			return stats, fmt.Errorf("%s (query %s) still running after %s: stopped", st.Name, id, r.Timeout)
		}
		wait = min(wait*2, r.MaxPoll)
	}
}

// stop asks Athena to stop a query we no longer wait for (best effort, with its own short deadline).
func (r *Runner) stop(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = r.client.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)})
}
