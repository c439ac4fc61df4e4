package aggregate

import (
	"context"
	"fmt"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
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

// WriteStopper stops the queued or running queries whose text starts with one of the prefixes,
// and waits until none runs (an earlier invocation's writes that outlived it).
type WriteStopper interface {
	StopWrites(ctx context.Context, prefixes []string) (int, error)
}

// Athena replaces an hour in the Iceberg tables (silver_readings, then hourly_metrics, dq_hourly,
// location_hourly and hourly_metric_values from it) with DELETE then INSERT each. A failure between the two leaves the
// hour empty until the next run (or a backfill) writes it again: the scheduled runs revisit every
// hour of the late window.
type Athena struct {
	runner   QueryRunner
	database string
	bucket   string // the lake's bucket, where TableStatements puts the Iceberg tables
	tables   tables
	objects  ObjectLister // nil: every hour is queried
}

// ObjectLister tells whether the lake holds an object under a prefix (S3 on AWS).
type ObjectLister interface {
	Any(ctx context.Context, prefix string) (bool, error)
}

// SkipEmptyHours makes the aggregator look for the hour's bronze objects first and run no query
// for an hour without one (its rows, if it ever had any, stay). A stack at rest then scans
// nothing: 24 runs a day × 3 hours × 8 statements × Athena's 10 MB minimum would be $0.86 a month.
func (a *Athena) SkipEmptyHours(l ObjectLister) *Athena {
	a.objects = l
	return a
}

var (
	_ HourAggregator = (*Athena)(nil)
	_ DayAggregator  = (*Athena)(nil)
	_ Preparer       = (*Athena)(nil)
)

// NewAthena returns an aggregator over the Glue database, whose Iceberg tables live in the lake
// bucket (created on the first run: TableStatements).
func NewAthena(runner QueryRunner, database, bucket string) *Athena {
	return &Athena{runner: runner, database: database, bucket: bucket}
}

func (a *Athena) tableStatements() []Statement { return TableStatements(a.database, a.bucket) }

func (a *Athena) columnStatements() [][2]Statement { return ColumnStatements(a.database) }

// Prepare implements Preparer: the Iceberg tables exist, and no DELETE or INSERT of an earlier
// invocation still runs on them (a Lambda time-out leaves Athena's query running; the retry would
// then replace an hour while the old INSERT adds it again). With the handler's lease, nothing else
// writes them meanwhile.
func (a *Athena) Prepare(ctx context.Context) error {
	if err := a.tables.ensure(ctx, a.runner.Run, a.tableStatements, a.columnStatements); err != nil {
		return err
	}
	ws, ok := a.runner.(WriteStopper)
	if !ok {
		return nil
	}
	var prefixes []string
	for _, t := range IcebergTables {
		q := a.database + "." + t
		prefixes = append(prefixes, "DELETE FROM "+q+" ", "INSERT INTO "+q+"\n", "OPTIMIZE "+q+" ", "VACUUM "+q)
	}
	if _, err := ws.StopWrites(ctx, prefixes); err != nil {
		return fmt.Errorf("stopping an earlier invocation's writes: %w", err)
	}
	return nil
}

// AggregateHour implements HourAggregator.
func (a *Athena) AggregateHour(ctx context.Context, h Hour) (HourResult, error) {
	res := HourResult{Hour: h.Start, Rows: -1}
	if a.objects != nil {
		found, err := a.objects.Any(ctx, lake.Partition(lake.Bronze, h.Start))
		if err != nil {
			return res, err
		}
		if !found {
			res.Rows = 0
			return res, nil
		}
	}
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
	if err := a.tables.ensure(ctx, a.runner.Run, a.tableStatements, a.columnStatements); err != nil {
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
