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
// Parquet files need none: an hour is one file, replaced whole. since bounds the compaction: the
// rows from then on (their files) are compacted, older ones are not.
type Maintainer interface {
	Maintain(ctx context.Context, since time.Time) (MaintainResult, error)
}

// MaintainDays is how many UTC days the daily maintenance compacts: the day it runs in and the
// two before. The scheduled runs rewrite the last LateHours+1 hours, and yesterday's daily rows
// until LateHours past midnight: at 03:35 UTC the small files of those writes are in these days.
// Older partitions were compacted by earlier runs and no longer change, so the compaction's
// cost (Athena bills the bytes it rewrites) stays that of three days, not of the whole history.
// A backfill's older days are compacted by a maintenance of its own ({"maintain": true, "since":
// "YYYY-MM-DD"}).
const MaintainDays = 3

// MaintainSince is where the daily maintenance run at now starts compacting: midnight UTC,
// MaintainDays-1 days before now's day.
func MaintainSince(now time.Time) time.Time {
	return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(MaintainDays - 1))
}

// partitionColumn is the column an Iceberg partition transform reads: event_time of day(event_time).
func partitionColumn(transform string) string {
	_, col, _ := strings.Cut(strings.TrimSuffix(transform, ")"), "(")
	return col
}

// MaintainResult is what the maintenance ran.
type MaintainResult struct {
	Statements   []string `json:"statements"`
	BytesScanned int64    `json:"bytes_scanned"`
}

// MaintenanceStatements are OPTIMIZE then VACUUM for each Iceberg table of the database. OPTIMIZE
// rewrites only the files holding rows from since on: Athena allows partition columns alone in
// its WHERE, and selects a file if any of its rows matches; with hidden partitioning the
// predicate is on the column the partition transform reads (silver's event_time, a gold table's
// hour_start or day_start). VACUUM takes no predicate: it expires snapshots by age and removes
// files no snapshot references, which costs no scan.
func MaintenanceStatements(database string, since time.Time) []Statement {
	var out []Statement
	for _, t := range icebergTables {
		name := t.table.Name
		out = append(out,
			Statement{Name: "optimize " + name, SQL: "OPTIMIZE " + database + "." + name + " REWRITE DATA USING BIN_PACK WHERE " +
				partitionColumn(t.partition) + " >= TIMESTAMP '" + since.UTC().Format("2006-01-02 15:04:05") + "'"},
			Statement{Name: "vacuum " + name, SQL: "VACUUM " + database + "." + name})
	}
	return out
}

// Maintain implements Maintainer: the statements one after another; the first failure stops it
// (the next day's run does it again: both statements are idempotent).
func (a *Athena) Maintain(ctx context.Context, since time.Time) (MaintainResult, error) {
	var res MaintainResult
	if err := a.Prepare(ctx); err != nil { // the tables, and no earlier write or compaction still running
		return res, err
	}
	for _, st := range MaintenanceStatements(a.database, since) {
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

// maintenanceRequest is a payload that asks for the maintenance: {"maintain": true}, with
// "since": "YYYY-MM-DD" to compact from that UTC day on instead of the last MaintainDays.
type maintenanceRequest struct {
	Maintain bool   `json:"maintain"`
	Since    string `json:"since,omitempty"`
}

// maintenance reports whether a payload asks for the maintenance.
func maintenance(payload []byte) bool {
	var p maintenanceRequest
	return json.Unmarshal(payload, &p) == nil && p.Maintain
}

// maintain runs the maintenance and logs it.
func (h *Handler) maintain(ctx context.Context, payload []byte) (Result, error) {
	m, ok := h.agg.(Maintainer)
	if !ok {
		return Result{}, errors.New("this aggregator's tables need no maintenance")
	}
	var req maintenanceRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return Result{}, fmt.Errorf("reading the maintenance request: %w", err)
	}
	since := MaintainSince(h.cfg.Now())
	if req.Since != "" {
		d, err := time.Parse(time.DateOnly, req.Since)
		if err != nil {
			return Result{}, fmt.Errorf("maintenance since %q: want a UTC day, YYYY-MM-DD", req.Since)
		}
		since = d
	}
	start := time.Now()
	res, err := m.Maintain(ctx, since)
	h.log.InfoContext(ctx, "tables maintained", "since", since.Format(time.DateOnly), "statements", strings.Join(res.Statements, "; "), "bytes_scanned", res.BytesScanned,
		"duration_ms", time.Since(start).Milliseconds(), "err", err)
	return Result{Maintained: res.Statements}, err
}
