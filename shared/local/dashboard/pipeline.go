package dashboard

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// PipelinePage is the pipeline page's data.
type PipelinePage struct {
	Counters                     *Counters // nil without a running pipeline
	Throughput                   Chart     // readings per hour over the last 24 hours (gold), expected beside them
	Rejected                     []Rejected
	Runs                         []Run
	QuarantineFrom, QuarantineTo time.Time
	// Quality is dq_hourly of the same 24 hours, newest first.
	Quality []Quality
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

func (s *Server) pipeline(r *http.Request, now time.Time) (string, any, error) {
	p, err := s.pipelineData(r.Context(), now)
	return "Pipeline", p, err
}

func (s *Server) pipelineData(ctx context.Context, now time.Time) (PipelinePage, error) {
	var p PipelinePage
	if s.cfg.Live != nil {
		c := s.cfg.Live.Counters()
		p.Counters = &c
	}
	end := now.Truncate(time.Hour) // the hours that are over: the current one is aggregated once it is
	start := end.Add(-24 * time.Hour)
	p.Throughput = Chart{ID: "throughput", Title: "Readings per hour", Unit: "readings", Bars: true,
		Series: []Series{{Label: "received", Color: "#1f5fa8", Width: 2}, {Label: "expected", Color: "#5f6368", Width: 1}}}
	byHour := map[int64][2]float64{}
	rel, err := s.rows(ctx, s.gold, start, end)
	if err != nil {
		return p, err
	}
	if rel != "" {
		// Expected: every device, registered or seen in the day, each hour (one that sent nothing
		// has no row of its own).
		var seen []string
		var perHour float64
		err := s.query(ctx, "hourly metrics", "SELECT DISTINCT device_id, max(expected_readings) OVER () FROM "+rel, nil, func(rs scanner) error {
			var id string
			if err := rs.Scan(&id, &perHour); err != nil {
				return err
			}
			seen = append(seen, id)
			return nil
		})
		if err != nil {
			return p, err
		}
		devices := map[string]bool{}
		for id := range s.devices {
			devices[id] = true
		}
		for _, id := range seen {
			devices[id] = true
		}
		expected := perHour * float64(len(devices))
		err = s.query(ctx, "hourly metrics", "SELECT epoch(hour_start)::BIGINT, sum(readings), ? FROM "+rel+" GROUP BY hour_start", []any{expected},
			func(rs scanner) error {
				var t int64
				var n, e float64
				if err := rs.Scan(&t, &n, &e); err != nil {
					return err
				}
				byHour[t] = [2]float64{n, e}
				return nil
			})
		if err != nil {
			return p, err
		}
	}
	for h := start; h.Before(end); h = h.Add(time.Hour) {
		v, ok := byHour[h.Unix()]
		p.Throughput.X = append(p.Throughput.X, h.Unix())
		if ok {
			n, e := v[0], v[1]
			p.Throughput.Series[0].Values = append(p.Throughput.Series[0].Values, &n)
			p.Throughput.Series[1].Values = append(p.Throughput.Series[1].Values, &e)
		} else {
			p.Throughput.Series[0].Values = append(p.Throughput.Series[0].Values, nil)
			p.Throughput.Series[1].Values = append(p.Throughput.Series[1].Values, nil)
		}
	}
	p.Throughput.Points = len(p.Throughput.X)
	// The quarantine is filed by arrival (the clock of the run), not by event time: its own last week.
	if last, ok := s.latestHour(lake.Quarantine); ok {
		p.QuarantineTo, p.QuarantineFrom = last.Add(time.Hour), last.Add(-7*24*time.Hour+time.Hour)
		if files := s.files(lake.Quarantine, p.QuarantineFrom, p.QuarantineTo, ".json.gz"); len(files) > 0 {
			q := `SELECT reason, count(*), any_value(detail), any_value(coalesce(data, '(' || octet_length(from_base64(data_base64)) || ' bytes, not text)')), max(TRY_CAST(arrival_time AS TIMESTAMPTZ))
				FROM read_json(` + listLit(files) + `, format = 'newline_delimited', ignore_errors = true,
				columns = {reason: 'VARCHAR', detail: 'VARCHAR', arrival_time: 'VARCHAR', data: 'VARCHAR', data_base64: 'VARCHAR'})
				WHERE reason IS NOT NULL GROUP BY reason ORDER BY count(*) DESC, reason`
			err := s.query(ctx, "the quarantine", q, nil, func(rs scanner) error {
				var r Rejected
				var detail, sample sql.NullString
				var last sql.NullTime
				if err := rs.Scan(&r.Reason, &r.Count, &detail, &sample, &last); err != nil {
					return err
				}
				r.Detail, r.Sample, r.Last = detail.String, sample.String, last.Time.UTC()
				if len(r.Sample) > 300 {
					r.Sample = r.Sample[:300] + "…"
				}
				p.Rejected = append(p.Rejected, r)
				return nil
			})
			if err != nil {
				return p, err
			}
		}
	}
	if p.Quality, err = s.quality(ctx, start, end); err != nil {
		return p, err
	}
	runs, err := s.runs(ctx, now, 24)
	p.Runs = runs
	return p, err
}

// quality reads dq_hourly of the hours from `from` up to `to`, summed over devices, newest first.
func (s *Server) quality(ctx context.Context, from, to time.Time) ([]Quality, error) {
	files := s.hourFiles(lake.DQHourlyTable, from, to)
	if len(files) == 0 {
		return nil, nil
	}
	var out []Quality
	q := `SELECT epoch(hour_start)::BIGINT, sum(bronze_records)::BIGINT, sum(valid_readings)::BIGINT, sum(duplicates)::BIGINT,
		sum(rejected)::BIGINT, sum(late_arrivals)::BIGINT, min(fleet_pass_rate_pct),
		'[' || string_agg(rejected_by_reason, ',') FILTER (WHERE rejected > 0) || ']'
		FROM read_parquet(` + listLit(files) + `) GROUP BY hour_start ORDER BY hour_start DESC`
	err := s.query(ctx, "data quality", q, nil, func(rs scanner) error {
		var t int64
		var r Quality
		var pass sql.NullFloat64
		var reasons sql.NullString
		if err := rs.Scan(&t, &r.Records, &r.Readings, &r.Duplicates, &r.Rejected, &r.Late, &pass, &reasons); err != nil {
			return err
		}
		r.Hour, r.PassRatePct = time.Unix(t, 0).UTC(), pass.Float64
		r.Reasons = sumReasons(reasons.String)
		out = append(out, r)
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
func (s *Server) runs(ctx context.Context, now time.Time, n int) ([]Run, error) {
	files := s.goldFiles(now.Add(-goldWindow), now.Add(time.Hour))
	var out []Run
	paths := map[time.Time]string{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		h, ok := lake.ParseHour(filepath.ToSlash(f))
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
	for i, r := range out {
		sel[i] = paths[r.Hour]
	}
	counts := map[int64][2]int64{}
	err := s.query(ctx, "the aggregated hours", "SELECT epoch(hour_start)::BIGINT, count(DISTINCT device_id), sum(readings) FROM ("+goldSQL(sel)+") GROUP BY hour_start", nil,
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

// events streams a running pipeline's counters and its devices' last readings, once a second
// (Server-Sent Events): the overview and pipeline pages update from it.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many live pages open", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev int64 = -1
	prevAt := time.Now()
	for {
		c := s.cfg.Live.Counters()
		ev := struct {
			Counters
			Rate     float64           `json:"rate"`
			LastSeen map[string]string `json:"last_seen"`
		}{Counters: c, LastSeen: map[string]string{}}
		if prev >= 0 {
			if d := time.Since(prevAt).Seconds(); d > 0 {
				ev.Rate = float64(c.Readings-prev) / d
			}
		}
		prev, prevAt = c.Readings, time.Now()
		for id, st := range s.cfg.Live.States() {
			if st.Alarm.HasLast {
				ev.LastSeen[id] = time.Unix(0, st.Alarm.Last).UTC().Format(time.RFC3339)
			}
		}
		b, _ := json.Marshal(ev)
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // beyond the server's WriteTimeout, for this stream only
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
