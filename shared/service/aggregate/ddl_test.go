package aggregate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// runFunc is a QueryRunner of a function (to make a statement fail).
type runFunc func(st aggregate.Statement) error

func (f runFunc) Run(_ context.Context, st aggregate.Statement) (aggregate.QueryStats, error) {
	return aggregate.QueryStats{}, f(st)
}

// TestColumnsAddedToDeployedTables: a table made before a column was added to its definition
// gains it (the probe fails, the ALTER TABLE … ADD COLUMNS runs, once per process); a table that
// has it runs no ALTER; an ALTER that fails fails the preparation, and the next run tries again.
func TestColumnsAddedToDeployedTables(t *testing.T) {
	probe, alter := "SELECT metrics FROM db.silver_readings WHERE false\n", "ALTER TABLE db.silver_readings ADD COLUMNS (metrics map<string,double>)\n"
	cols := aggregate.ColumnStatements("db")
	if len(cols) != 1 || cols[0][0].SQL != probe || cols[0][1].SQL != alter {
		t.Fatalf("ColumnStatements = %q", cols)
	}
	for _, tc := range []struct {
		name       string
		lacks      bool // the deployed table lacks the column
		alterFails bool
		wantAlter  int
		wantErr    string
	}{
		{"has the column", false, false, 0, ""},
		{"lacks the column", true, false, 1, ""},
		{"the ALTER fails", true, true, 1, "add silver_readings.metrics: AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var alters, probes int
			run := runFunc(func(st aggregate.Statement) error {
				switch st.SQL {
				case probe:
					probes++
					if tc.lacks {
						return errors.New("COLUMN_NOT_FOUND: line 1:8: Column 'metrics' cannot be resolved")
					}
				case alter:
					alters++
					if tc.alterFails {
						return errors.New("AccessDenied")
					}
					tc.lacks = false
				}
				return nil
			})
			a := aggregate.NewAthena(run, "db", "bucket")
			for i := 0; i < 2; i++ {
				err := a.Prepare(context.Background())
				if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("Prepare: %v; want %q", err, tc.wantErr)
				}
			}
			wantProbes := 1
			if tc.alterFails {
				wantProbes, tc.wantAlter = 2, 2 // tried again at the next run
			}
			if alters != tc.wantAlter || probes != wantProbes {
				t.Errorf("%d ALTER, %d probes; want %d, %d", alters, probes, tc.wantAlter, wantProbes)
			}
		})
	}
}
