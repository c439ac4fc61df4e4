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

// Athena replaces an hour in the Iceberg tables (silver_readings, then hourly_metrics, dq_hourly
// and location_hourly from it) with DELETE then INSERT each. A failure between the two leaves the
// hour empty until the next run (or a backfill) writes it again: the scheduled runs revisit every
// hour of the late window.
type Athena struct {
	runner   QueryRunner
	database string
	bucket   string // the lake's bucket, where TableStatements puts the Iceberg tables
	tables   tables
}

var (
	_ HourAggregator = (*Athena)(nil)
	_ DayAggregator  = (*Athena)(nil)
)

// NewAthena returns an aggregator over the Glue database, whose Iceberg tables live in the lake
// bucket (created on the first run: TableStatements).
func NewAthena(runner QueryRunner, database, bucket string) *Athena {
	return &Athena{runner: runner, database: database, bucket: bucket}
}

// AggregateHour implements HourAggregator.
func (a *Athena) AggregateHour(ctx context.Context, h Hour) (HourResult, error) {
	res := HourResult{Hour: h.Start, Rows: -1}
	sts, err := AthenaStatements(a.database, h)
	if err != nil {
		return res, err
	}
	return a.run(ctx, res, sts)
}

// AggregateDay implements DayAggregator.
func (a *Athena) AggregateDay(ctx context.Context, d Day) (HourResult, error) {
	sts, err := AthenaDayStatements(a.database, d)
	if err != nil {
		return HourResult{Hour: d.Start, Rows: -1}, err
	}
	return a.run(ctx, HourResult{Hour: d.Start, Rows: -1}, sts)
}

func (a *Athena) run(ctx context.Context, res HourResult, sts []Statement) (HourResult, error) {
	if err := a.tables.ensure(ctx, a.runner.Run, TableStatements(a.database, a.bucket)); err != nil {
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
