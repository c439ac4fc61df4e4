package lakeview

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// PipelinePage is the pipeline page's data.
type PipelinePage struct {
	Throughput                   Chart // readings per hour over the last 24 hours (gold), expected beside them
	Rejected                     []Rejected
	Runs                         []Run
	QuarantineFrom, QuarantineTo time.Time
	// Quality is dq_hourly of the same 24 hours, newest first.
	Quality []Quality
	// AllLate says every reading of those hours arrived late: a replay of old recordings, or a
	// backfill, where arrival (the wall clock) is far after the readings' own hours.
	AllLate bool
}

// Quality is one hour of dq_hourly, over every device.
type Quality struct {
	Hour                                          time.Time
	Records, Readings, Duplicates, Rejected, Late int64
	PassRatePct                                   float64
	Reasons                                       string // "bad_metric 2, too_large 1"
}

// Rejected is one reason of the quarantine, with a sample of what it refused.
type Rejected struct {
	Reason, Detail, Sample string
	Count                  int64
	Last                   time.Time
}

// Run is one aggregated hour: when its gold file was written, and its rows.
type Run struct {
	Hour    time.Time
	Written time.Time
	Devices int64
	Rows    int64
}

// pipelineData reads the pipeline page: the hours that are over (the current one is aggregated
// once it is) of the last 24.
func (r *Reader) pipelineData(ctx context.Context, now time.Time) (PipelinePage, error) {
	var p PipelinePage
	end := now.Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	var err error
	if p.Throughput, err = r.throughput(ctx, start, end); err != nil {
		return p, err
	}
	if p.QuarantineFrom, p.QuarantineTo, p.Rejected, err = r.quarantine(ctx); err != nil {
		return p, err
	}
	if p.Quality, err = r.quality(ctx, start, end); err != nil {
		return p, err
	}
	var readings, late int64
	for _, q := range p.Quality {
		readings, late = readings+q.Readings, late+q.Late
	}
	p.AllLate = readings > 0 && late == readings
	runs, err := r.runs(ctx, now, 24)
	p.Runs = runs
	return p, err
}

// throughput is the chart of the readings received per hour from start up to end (gold), with
// those expected beside them.
func (r *Reader) throughput(ctx context.Context, start, end time.Time) (Chart, error) {
	c := Chart{ID: "throughput", Title: "Readings per hour", Unit: "readings", Bars: true,
		Series: []Series{{Label: "received", Color: "#1f5fa8", Width: 2}, {Label: "expected", Color: "#5f6368", Width: 1}}}
	byHour, err := r.readingsPerHour(ctx, start, end)
	if err != nil {
		return c, err
	}
	for h := start; h.Before(end); h = h.Add(time.Hour) {
		v, ok := byHour[h.Unix()]
		c.X = append(c.X, h.Unix())
		if ok {
			n, e := v[0], v[1]
			c.Series[0].Values = append(c.Series[0].Values, &n)
			c.Series[1].Values = append(c.Series[1].Values, &e)
		} else {
			c.Series[0].Values = append(c.Series[0].Values, nil)
			c.Series[1].Values = append(c.Series[1].Values, nil)
		}
	}
	c.Points = len(c.X)
	return c, nil
}

// readingsPerHour are the readings received and expected in each hour aggregated from start up to
// end, by the hour's Unix time.
func (r *Reader) readingsPerHour(ctx context.Context, start, end time.Time) (map[int64][2]float64, error) {
	byHour := map[int64][2]float64{}
	rel, err := r.rows(ctx, r.gold, start, end)
	if rel == "" || err != nil {
		return byHour, err
	}
	expected, err := r.expectedPerHour(ctx, rel)
	if err != nil {
		return byHour, err
	}
	err = r.query(ctx, "hourly metrics", "SELECT epoch(hour_start)::BIGINT, sum(readings), ? FROM "+rel+" GROUP BY hour_start", []any{expected},
		func(rs scanner) error {
			var t int64
			var n, e float64
			if err := rs.Scan(&t, &n, &e); err != nil {
				return err
			}
			byHour[t] = [2]float64{n, e}
			return nil
		})
	return byHour, err
}

// expectedPerHour is the readings the fleet should send an hour: every device, registered or seen
// in the hourly metrics rel, each hour (one that sent nothing has no row of its own).
func (r *Reader) expectedPerHour(ctx context.Context, rel string) (float64, error) {
	var seen []string
	var perHour float64
	err := r.query(ctx, "hourly metrics", "SELECT DISTINCT device_id, max(expected_readings) OVER () FROM "+rel, nil, func(rs scanner) error {
		var id string
		if err := rs.Scan(&id, &perHour); err != nil {
			return err
		}
		seen = append(seen, id)
		return nil
	})
	if err != nil {
		return 0, err
	}
	devices := map[string]bool{}
	for id := range r.devices {
		devices[id] = true
	}
	for _, id := range seen {
		devices[id] = true
	}
	return perHour * float64(len(devices)), nil
}

// quarantine reads what the quarantine refused by reason, with a sample of each. It is filed by
// arrival (the clock of the run), not by event time: its own last week, from..to.
func (r *Reader) quarantine(ctx context.Context) (from, to time.Time, out []Rejected, err error) {
	last, ok := r.latestHour(lake.Quarantine)
	if !ok {
		return from, to, nil, nil
	}
	to, from = last.Add(time.Hour), last.Add(-7*24*time.Hour+time.Hour)
	files := r.files(lake.Quarantine, from, to, ".json.gz")
	if len(files) == 0 {
		return from, to, nil, nil
	}
	q := `SELECT reason, count(*), any_value(detail), any_value(coalesce(data, '(' || octet_length(from_base64(data_base64)) || ' bytes, not text)')), max(TRY_CAST(arrival_time AS TIMESTAMPTZ))
		FROM read_json(` + listLit(files) + `, format = 'newline_delimited', ignore_errors = true,
		columns = {reason: 'VARCHAR', detail: 'VARCHAR', arrival_time: 'VARCHAR', data: 'VARCHAR', data_base64: 'VARCHAR'})
		WHERE reason IS NOT NULL GROUP BY reason ORDER BY count(*) DESC, reason`
	err = r.query(ctx, "the quarantine", q, nil, func(rs scanner) error {
		var rej Rejected
		var detail, sample sql.NullString
		var last sql.NullTime
		if err := rs.Scan(&rej.Reason, &rej.Count, &detail, &sample, &last); err != nil {
			return err
		}
		rej.Detail, rej.Sample, rej.Last = detail.String, sample.String, last.Time.UTC()
		if len(rej.Sample) > 300 {
			rej.Sample = rej.Sample[:300] + "…"
		}
		out = append(out, rej)
		return nil
	})
	return from, to, out, err
}

// quality reads dq_hourly of the hours from `from` up to `to`, summed over devices, newest first.
func (r *Reader) quality(ctx context.Context, from, to time.Time) ([]Quality, error) {
	files := r.hourFiles(lake.DQHourlyTable, from, to)
	if len(files) == 0 {
		return nil, nil
	}
	var out []Quality
	q := `SELECT epoch(hour_start)::BIGINT, sum(bronze_records)::BIGINT, sum(valid_readings)::BIGINT, sum(duplicates)::BIGINT,
		sum(rejected)::BIGINT, sum(late_arrivals)::BIGINT, min(fleet_pass_rate_pct),
		'[' || string_agg(rejected_by_reason, ',') FILTER (WHERE rejected > 0) || ']'
		FROM read_parquet(` + listLit(files) + `) GROUP BY hour_start ORDER BY hour_start DESC`
	err := r.query(ctx, "data quality", q, nil, func(rs scanner) error {
		var t int64
		var hq Quality
		var pass sql.NullFloat64
		var reasons sql.NullString
		if err := rs.Scan(&t, &hq.Records, &hq.Readings, &hq.Duplicates, &hq.Rejected, &hq.Late, &pass, &reasons); err != nil {
			return err
		}
		hq.Hour, hq.PassRatePct = time.Unix(t, 0).UTC(), pass.Float64
		hq.Reasons = sumReasons(reasons.String)
		out = append(out, hq)
		return nil
	})
	return out, err
}

// sumReasons adds up the rejected_by_reason objects of an hour's rows (a JSON array of them)
// into "reason n, …", the most frequent first.
func sumReasons(array string) string {
	var rows []map[string]int64
	if array == "" || json.Unmarshal([]byte(array), &rows) != nil {
		return ""
	}
	total := map[string]int64{}
	for _, m := range rows {
		for k, v := range m {
			total[k] += v
		}
	}
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if total[keys[i]] != total[keys[j]] {
			return total[keys[i]] > total[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, total[k])
	}
	return strings.Join(parts, ", ")
}

// runs are the last n hours aggregated of the month before now, by when their gold file was
// written (newest first).
func (r *Reader) runs(ctx context.Context, now time.Time, n int) ([]Run, error) {
	files := r.goldFiles(now.Add(-goldWindow), now.Add(time.Hour))
	var out []Run
	paths := map[time.Time]string{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(r.root, f) // the lake's own path may hold a dt= folder
		if err != nil {
			continue
		}
		h, ok := lake.ParseHour(filepath.ToSlash(rel))
		if !ok {
			continue
		}
		out = append(out, Run{Hour: h, Written: fi.ModTime().UTC()})
		paths[h] = f
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Written.Equal(out[j].Written) {
			return out[i].Written.After(out[j].Written)
		}
		return out[i].Hour.After(out[j].Hour)
	})
	if len(out) > n {
		out = out[:n]
	}
	if len(out) == 0 {
		return out, nil
	}
	sel := make([]string, len(out))
	for i, run := range out {
		sel[i] = paths[run.Hour]
	}
	counts := map[int64][2]int64{}
	err := r.query(ctx, "the aggregated hours", "SELECT epoch(hour_start)::BIGINT, count(DISTINCT device_id), sum(readings) FROM ("+goldSQL(sel)+") GROUP BY hour_start", nil,
		func(rs scanner) error {
			var t, d, n int64
			if err := rs.Scan(&t, &d, &n); err != nil {
				return err
			}
			counts[t] = [2]int64{d, n}
			return nil
		})
	for i := range out {
		c := counts[out[i].Hour.Unix()]
		out[i].Devices, out[i].Rows = c[0], c[1]
	}
	return out, err
}
