// Package athenaquery runs statements on Athena: StartQueryExecution in the pipeline's workgroup
// with every value passed as ExecutionParameters, then GetQueryExecution with backoff until the
// query ends. FAILED, CANCELLED and time-outs are errors that say why.
package athenaquery

import (
	"context"
	"fmt"
	"strings"
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
	ListQueryExecutions(ctx context.Context, in *athena.ListQueryExecutionsInput, opts ...func(*athena.Options)) (*athena.ListQueryExecutionsOutput, error)
	BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, opts ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error)
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

// WriteHorizon is how old the newest query of an earlier invocation can be: the function's 15
// minutes and a query's time limit (Timeout's default) after them.
const WriteHorizon = 30 * time.Minute

var (
	_ aggregate.QueryRunner  = (*Runner)(nil)
	_ aggregate.WriteStopper = (*Runner)(nil)
)

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
			if ctx.Err() != nil { // the deadline came during the call: the query must not outlive it
				r.stop(id)
			}
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

// StopWrites stops the workgroup's queued or running queries whose text starts with one of the
// prefixes (an earlier invocation's DELETE or INSERT that outlived it: a Lambda time-out, a stop
// that did not arrive) and waits until none runs, so that a retry never writes an hour twice. It
// pages through the workgroup's queries, newest first, until they were submitted before
// WriteHorizon (no invocation's query is older), reading their states 50 at a time; a query whose
// state Athena does not give is asked again, and never stopped unseen: the workgroup is shared
// with people's and Grafana's queries.
func (r *Runner) StopWrites(ctx context.Context, prefixes []string) (int, error) {
	cutoff := time.Now().Add(-WriteHorizon)
	// running reads the states of ids and returns those of ours that run, and whether every one
	// of them was submitted after the cutoff.
	running := func(ids []string) (out []string, recent bool, err error) {
		recent = true
		for start := 0; start < len(ids); start += 50 {
			batch := ids[start:min(start+50, len(ids))]
			var got []types.QueryExecution
			for try := 0; len(batch) > 0; try++ {
				res, err := r.client.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: batch})
				if err != nil {
					return nil, false, fmt.Errorf("reading the states of the workgroup's queries: %w", err)
				}
				got = append(got, res.QueryExecutions...)
				batch = batch[:0]
				for _, u := range res.UnprocessedQueryExecutionIds {
					batch = append(batch, aws.ToString(u.QueryExecutionId))
				}
				if try == 4 && len(batch) > 0 {
					return nil, false, fmt.Errorf("no state of queries %v from Athena", batch)
				}
			}
			for _, qe := range got {
				if qe.Status != nil && qe.Status.SubmissionDateTime != nil && qe.Status.SubmissionDateTime.Before(cutoff) {
					recent = false
				}
				if qe.Status == nil || (qe.Status.State != types.QueryExecutionStateQueued && qe.Status.State != types.QueryExecutionStateRunning) {
					continue
				}
				for _, p := range prefixes {
					if strings.HasPrefix(aws.ToString(qe.Query), p) {
						out = append(out, aws.ToString(qe.QueryExecutionId))
						break
					}
				}
			}
		}
		return out, recent, nil
	}
	var left []string
	in := &athena.ListQueryExecutionsInput{WorkGroup: aws.String(r.workgroup), MaxResults: aws.Int32(50)}
	for page := 0; page < 40; page++ { // 2,000 queries at most
		list, err := r.client.ListQueryExecutions(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("listing the workgroup's queries: %w", err)
		}
		ours, recent, err := running(list.QueryExecutionIds)
		if err != nil {
			return 0, err
		}
		left = append(left, ours...)
		if !recent || list.NextToken == nil {
			break
		}
		in.NextToken = list.NextToken
	}
	if len(left) == 0 {
		return 0, nil
	}
	var err error
	stopped := len(left)
	wait := r.FirstPoll
	deadline := time.Now().Add(r.Timeout)
	for round := 0; len(left) > 0; round++ {
		for _, id := range left {
			if round%8 != 0 {
				break // asked again every 8 polls, in case a request was lost
			}
			if _, err := r.client.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)}); err != nil {
				return stopped, fmt.Errorf("stopping query %s: %w", id, err)
			}
		}
		if time.Now().After(deadline) {
			return stopped, fmt.Errorf("queries %v still run after being stopped for %s", left, r.Timeout)
		}
		select {
		case <-ctx.Done():
			return stopped, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, r.MaxPoll)
		if left, _, err = running(left); err != nil {
			return stopped, err
		}
	}
	return stopped, nil
}
