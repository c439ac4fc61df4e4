package aggregate

import (
	"context"
	"fmt"
	"time"
)

// QueryStats is what Athena reports of a finished query.
type QueryStats struct {
	ID           string
	BytesScanned int64
	EngineTime   time.Duration
	TotalTime    time.Duration
}

// QueryRunner runs one statement to completion (Athena on AWS).
type QueryRunner interface {
	Run(ctx context.Context, st Statement) (QueryStats, error)
}

// Athena replaces an hour in the Iceberg table hourly_metrics with DELETE then INSERT. A failure
// between the two leaves the hour empty until the next run (or a backfill) writes it again: the
// scheduled runs revisit every hour of the late window.
type Athena struct {
	runner   QueryRunner
	database string
}

var _ HourAggregator = (*Athena)(nil)

// NewAthena returns an aggregator over the Glue database.
func NewAthena(runner QueryRunner, database string) *Athena {
	return &Athena{runner: runner, database: database}
}

// AggregateHour implements HourAggregator.
func (a *Athena) AggregateHour(ctx context.Context, h Hour) (HourResult, error) {
	res := HourResult{Hour: h.Start, Rows: -1}
	sts, err := AthenaStatements(a.database, h)
	if err != nil {
		return res, err
	}
	for _, st := range sts {
		qs, err := a.runner.Run(ctx, st)
		if err != nil {
			return res, fmt.Errorf("%s: %w", st.Name, err)
		}
		res.BytesScanned += qs.BytesScanned
		res.Duration += qs.TotalTime
	}
	return res, nil
}
