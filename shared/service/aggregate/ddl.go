package aggregate

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// An icebergTable is a lake table the aggregation writes as Iceberg on AWS, and how it is
// partitioned.
type icebergTable struct {
	table     *lake.Table // the definition, as it is when the statements are made
	partition string      // an Iceberg partition transform
}

// The Iceberg tables, in the order they are created. Silver is partitioned by day (a day's
// queries read one partition), the gold tables by day too, daily_metrics by month. (Athena's DDL
// has no sort order, and Trino ignores an INSERT's ORDER BY: silver's files on AWS are not sorted
// by device; the local Parquet files are.)
var icebergTables = []icebergTable{
	{&lake.SilverReadingsTable, "day(event_time)"},
	{&lake.HourlyMetricsTable, "day(hour_start)"},
	{&lake.DailyMetricsTable, "month(day_start)"},
	{&lake.DQHourlyTable, "day(hour_start)"},
	{&lake.LocationHourlyTable, "day(hour_start)"},
	{&lake.HourlyMetricValuesTable, "day(hour_start)"},
	{&lake.DailyMetricValuesTable, "month(day_start)"},
}

// An addedColumn is a column added to a table's definition after tables were deployed: the
// column's definition is the one in the table (lake), this only says which.
type addedColumn struct {
	table  *lake.Table
	column string
}

// addedColumns are the columns added since the first deployment, oldest first. Iceberg's ADD
// COLUMNS appends a column: each must be the last of its table's columns when it is added (an
// INSERT writes the columns in the definition's order, and must fit tables made before and after).
var addedColumns = []addedColumn{
	{&lake.SilverReadingsTable, "metrics"}, // the declared metrics (DESIGN.md, "Metrics catalog")
}

// ColumnStatements are, for each column added to a definition since the first deployment, a
// probe that reads the column without scanning a row (it fails where the table lacks it) and
// the ALTER TABLE that adds it. Athena has no ADD COLUMNS IF NOT EXISTS: the aggregator runs the
// probe, and the ALTER only when the probe failed; an ALTER that fails then is an error.
func ColumnStatements(database string) [][2]Statement {
	out := make([][2]Statement, 0, len(addedColumns))
	for _, a := range addedColumns {
		var col lake.Column
		for _, c := range a.table.Columns {
			if c.Name == a.column {
				col = c
			}
		}
		if col.Name == "" {
			panic("aggregate: added column " + a.column + " is not a column of " + a.table.Name)
		}
		q := database + "." + a.table.Name
		out = append(out, [2]Statement{
			{Name: "probe " + a.table.Name + "." + col.Name, SQL: "SELECT " + col.Name + " FROM " + q + " WHERE false\n"},
			{Name: "add " + a.table.Name + "." + col.Name, SQL: "ALTER TABLE " + q + " ADD COLUMNS (" + col.Name + " " + col.Type.Glue() + ")\n"},
		})
	}
	return out
}

// TableStatements are the DDL that create the Iceberg tables if they do not exist, at
// s3://BUCKET/<the table's prefix>/, with the columns of the one lake-table definition.
//
// The tables are created here, by the aggregate function on its first run, and not by
// CloudFormation: a Glue table of Iceberg type that a stack update rewrites loses its table_type
// and metadata_location (Glue's UpdateTable; cloudformation-coverage-roadmap#1919, #2495), and
// every Athena commit moves metadata_location away from what a template holds. IF NOT EXISTS
// makes a re-run change nothing: a column added to a definition later needs an ALTER TABLE … ADD
// COLUMNS here (addedColumns, ColumnStatements), never a stack update.
func TableStatements(database, bucket string) []Statement {
	out := make([]Statement, 0, len(icebergTables))
	for _, t := range icebergTables {
		cols := make([]string, len(t.table.Columns))
		for i, c := range t.table.Columns {
			cols[i] = "  " + c.Name + " " + c.Type.Glue()
		}
		sql := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (\n%s)\nPARTITIONED BY (%s)\nLOCATION 's3://%s/%s/'\nTBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')\n",
			database, t.table.Name, strings.Join(cols, ",\n"), t.partition, bucket, t.table.Prefix)
		out = append(out, Statement{Name: "create " + t.table.Name, SQL: sql})
	}
	return out
}

// tables creates the Iceberg tables once per process (again after a failure).
type tables struct {
	mu   sync.Mutex
	done bool
}

func (t *tables) ensure(ctx context.Context, run func(context.Context, Statement) (QueryStats, error), statements func() []Statement, columns func() [][2]Statement) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	for _, st := range statements() {
		if _, err := run(ctx, st); err != nil {
			return fmt.Errorf("creating the lake's Iceberg tables: %s: %w", st.Name, err)
		}
	}
	for _, c := range columns() {
		if _, err := run(ctx, c[0]); err == nil {
			continue // the table has the column
		} else if _, err2 := run(ctx, c[1]); err2 != nil {
			return fmt.Errorf("adding a column to the lake's Iceberg tables: %s: %w (%s failed first: %v)", c[1].Name, err2, c[0].Name, err)
		}
	}
	t.done = true
	return nil
}
