package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// IcebergTables are the Iceberg tables the aggregation writes on AWS: each hour's DELETE then
// INSERT leaves small data files and delete files behind, which the daily maintenance compacts
// (OPTIMIZE … REWRITE DATA USING BIN_PACK) and whose expired snapshots and orphan files it removes
// (VACUUM, by the table's vacuum_max_snapshot_age_seconds: 5 days unless set).
var IcebergTables = func() []string {
	out := make([]string, len(icebergTables))
	for i, t := range icebergTables {
		out[i] = t.table.Name
	}
	return out
}()

// Maintainer is an aggregator whose tables need upkeep (Iceberg on Athena). The local engine's
// Parquet files need none: an hour is one file, replaced whole.
type Maintainer interface {
	Maintain(ctx context.Context) (MaintainResult, error)
}

// MaintainResult is what the maintenance ran.
type MaintainResult struct {
	Statements   []string `json:"statements"`
	BytesScanned int64    `json:"bytes_scanned"`
}

// MaintenanceStatements are OPTIMIZE then VACUUM for each Iceberg table of the database.
func MaintenanceStatements(database string) []Statement {
	var out []Statement
	for _, t := range IcebergTables {
		out = append(out,
			Statement{Name: "optimize " + t, SQL: "OPTIMIZE " + database + "." + t + " REWRITE DATA USING BIN_PACK"},
			Statement{Name: "vacuum " + t, SQL: "VACUUM " + database + "." + t})
	}
	return out
}

// Maintain implements Maintainer: the statements one after another; the first failure stops it
// (the next day's run does it again: both statements are idempotent).
func (a *Athena) Maintain(ctx context.Context) (MaintainResult, error) {
	var res MaintainResult
	if err := a.Prepare(ctx); err != nil { // the tables, and no earlier write or compaction still running
		return res, err
	}
	for _, st := range MaintenanceStatements(a.database) {
		qs, err := a.runner.Run(ctx, st)
		if err != nil {
			return res, fmt.Errorf("%s: %w", st.Name, err)
		}
		res.Statements = append(res.Statements, st.SQL)
		res.BytesScanned += qs.BytesScanned
	}
	return res, nil
}

// MaintainPayload is the daily schedule's input: {"maintain": true}.
const MaintainPayload = `{"maintain":true}`

// maintenance reports whether a payload asks for the maintenance.
func maintenance(payload []byte) bool {
	var p struct {
		Maintain bool `json:"maintain"`
	}
	return json.Unmarshal(payload, &p) == nil && p.Maintain
}

// maintain runs the maintenance and logs it.
func (h *Handler) maintain(ctx context.Context) (Result, error) {
	m, ok := h.agg.(Maintainer)
	if !ok {
		return Result{}, errors.New("this aggregator's tables need no maintenance")
	}
	start := time.Now()
	res, err := m.Maintain(ctx)
	h.log.InfoContext(ctx, "tables maintained", "statements", strings.Join(res.Statements, "; "), "bytes_scanned", res.BytesScanned,
		"duration_ms", time.Since(start).Milliseconds(), "err", err)
	return Result{Maintained: res.Statements}, err
}
