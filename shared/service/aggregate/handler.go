package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// HourAggregator replaces one hour's rows of silver_readings, then of the tables computed from
// them (hourly_metrics, dq_hourly, location_hourly, hourly_metric_values).
type HourAggregator interface {
	AggregateHour(ctx context.Context, h Hour) (HourResult, error)
}

// Locker holds a lease while an invocation writes, so that two never write at once (a DynamoDB
// lease on AWS: shared/aws/dynamolock).
type Locker interface {
	Acquire(ctx context.Context, owner string) (release func(context.Context) error, err error)
}

// WithCatalog makes each run read the metrics catalog from src at its start (the aggregate
// function: the table's, which an edit changes; Config.Catalog is then unused).
func (h *Handler) WithCatalog(src func(context.Context) (*reading.Catalog, error)) *Handler {
	h.catalogs = src
	return h
}

// catalog is the metrics catalog a run aggregates with: the source's (WithCatalog), read at the
// run's start, else Config.Catalog.
func (h *Handler) catalog(ctx context.Context) (*reading.Catalog, error) {
	if h.catalogs == nil {
		return h.cfg.Catalog, nil
	}
	cat, err := h.catalogs(ctx)
	if err != nil {
		// Aggregated without it, silver would drop the declared metrics' values until the next
		// rewrite of those hours: the run fails, and the next one tries again.
		return nil, fmt.Errorf("reading the metrics catalog: %w", err)
	}
	return cat, nil
}

// WithLock makes every invocation hold l's lease while it writes, as the owner that ownerOf
// names (the Lambda request id in the function; nil: the process and the time).
func (h *Handler) WithLock(l Locker, ownerOf func(context.Context) string) *Handler {
	h.lock, h.ownerOf = l, ownerOf
	return h
}

// Preparer is an aggregator with work to do before an invocation's hours (Athena: its tables, and
// no earlier write still running).
type Preparer interface {
	Prepare(ctx context.Context) error
}

// LeaseWorkBudget is the time an invocation keeps for its work when it waits for the lease: it
// gives up the wait that long before its deadline (Lambda retries it later).
const LeaseWorkBudget = 5 * time.Minute

// StopMargin is how long before the invocation's deadline the handler stops waiting for queries
// and stops them: a Lambda frozen at its time-out could not.
const StopMargin = 30 * time.Second

// DayAggregator replaces one UTC day's rows of daily_metrics and daily_metric_values, from the
// day's silver rows.
type DayAggregator interface {
	AggregateDay(ctx context.Context, d Day) (HourResult, error)
}

// HourResult is what aggregating one hour (or day) cost.
type HourResult struct {
	Hour         time.Time
	Rows         int64 // hourly_metrics (daily_metrics) rows written, where the engine knows (-1 when it does not)
	SilverRows   int64 // silver_readings rows written, where the engine knows
	BytesScanned int64
	Duration     time.Duration
}

// Config tunes the handler.
type Config struct {
	// LateHours is how many hours before the one that just ended each scheduled run re-aggregates,
	// for readings that arrive late (Firehose buffers up to ~15 minutes; devices send late).
	LateHours int
	// Interval is the devices' nominal reading interval (expected_readings = 1h / Interval).
	Interval time.Duration
	// MaxHours bounds one backfill invocation.
	MaxHours int
	// Concurrency bounds hours aggregated at once.
	Concurrency int
	// Now is the clock that decides which days are over (time.Now when nil).
	Now func() time.Time
	// Yesterday makes every run also rewrite the previous UTC day's daily_metrics once its late
	// window has passed, whatever hours it aggregates: a day is then written even when no later
	// run touches one of its hours (the scheduled runs set it; iotwatch run sets it too).
	Yesterday bool
	// Catalog declares the metrics beyond the built-ins (metrics.csv): silver checks and keeps
	// them, hourly_metric_values and daily_metric_values aggregate them. nil: the built-ins only.
	// A metric it no longer declares leaves silver at the next rewrite of an hour; bronze keeps it.
	Catalog *reading.Catalog
	// Progress, when set, is called after each hour with the hours done (failed ones included)
	// and the hours of the run; calls may come from several goroutines, one at a time.
	Progress func(done, total int)
}

// DefaultConfig: a 2-hour late window, readings every 60 s, backfills of at most 12 hours per
// invocation (an hour is 8 Athena statements, one hour at a time on AWS: 96 statements must end
// inside the function's 15 minutes, ~9 s each; not measured on AWS yet).
var DefaultConfig = Config{LateHours: 2, Interval: 60 * time.Second, MaxHours: 12, Concurrency: 3}

// Handler is the aggregate function's logic.
type Handler struct {
	lock     Locker                                          // nil: none
	catalogs func(context.Context) (*reading.Catalog, error) // nil: Config.Catalog
	ownerOf  func(context.Context) string
	agg      HourAggregator
	cfg      Config
	log      *slog.Logger
	out      io.Writer // EMF metrics
}

// NewHandler returns a handler; metrics go to out (standard output in Lambda).
func NewHandler(agg HourAggregator, cfg Config, log *slog.Logger, out io.Writer) *Handler {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if out == nil {
		out = io.Discard
	}
	return &Handler{agg: agg, cfg: cfg, log: log, out: out}
}

// Result is the handler's answer: the hours it aggregated.
type Result struct {
	Hours []string `json:"hours"`
	Rows  int64    `json:"rows"`
	// Days lists the UTC days whose daily_metrics were written, oldest first: those of the hours
	// whose last late window has passed, and for a scheduled run yesterday's.
	Days []string `json:"days,omitempty"`
	// Maintained lists the maintenance statements run ({"maintain": true}).
	Maintained []string `json:"maintained,omitempty"`
}

// HourLayout is how backfill payloads and the CLI name an hour.
const HourLayout = "2006-01-02T15"

// Backfill is the manual payload: aggregate [From, To).
type Backfill struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Hours parses a payload: an EventBridge scheduled event (the hour that just ended and the late
// window before it) or a backfill {"from":"2026-03-01T00","to":"2026-03-01T06"} (To exclusive).
func (c Config) Hours(payload []byte) ([]time.Time, error) {
	hours, _, err := c.hours(payload)
	return hours, err
}

// hours is Hours, and whether the payload is the schedule's.
func (c Config) hours(payload []byte) ([]time.Time, bool, error) {
	var p struct {
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
		Time       string `json:"time"`
		From       string `json:"from"`
		To         string `json:"to"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, false, fmt.Errorf("payload is not a JSON object: %w", err)
	}
	switch {
	case p.DetailType == "Scheduled Event":
		t, err := time.Parse(time.RFC3339, p.Time)
		if err != nil {
			return nil, true, fmt.Errorf("scheduled event time %q: %w", p.Time, err)
		}
		end := t.UTC().Truncate(time.Hour)
		return lake.Hours(end.Add(-time.Duration(c.LateHours+1)*time.Hour), end), true, nil
	case p.From != "" || p.To != "":
		from, err := ParseHour(p.From)
		if err != nil {
			return nil, false, fmt.Errorf("from: %w", err)
		}
		to, err := ParseHour(p.To)
		if err != nil {
			return nil, false, fmt.Errorf("to: %w", err)
		}
		hours, err := BoundedRange(from, to, c.MaxHours)
		return hours, false, err
	}
	return nil, false, errors.New(`unrecognized payload: want an EventBridge scheduled event or {"from":"YYYY-MM-DDTHH","to":"YYYY-MM-DDTHH"}`)
}

// ParseHour parses "YYYY-MM-DDTHH" as a UTC hour.
func ParseHour(s string) (time.Time, error) {
	t, err := time.Parse(HourLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an hour as YYYY-MM-DDTHH (UTC)", s)
	}
	return t, nil
}

// MaxCLIHours bounds one `iotwatch aggregate` run: 31 days.
const MaxCLIHours = 31 * 24

// BoundedRange lists the hours in [from, to), refusing an empty range and one of more than max
// hours (with what to do), before it lists anything.
func BoundedRange(from, to time.Time, max int) ([]time.Time, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%s is not after %s", to.Format(HourLayout), from.Format(HourLayout))
	}
	// Compared in hours, not as a Duration: a Duration saturates at 292 years.
	if hours := to.Unix()/3600 - from.Unix()/3600; hours > int64(max) {
		return nil, fmt.Errorf("%s to %s is %d hours: one run takes at most %d; split the range", from.Format(HourLayout), to.Format(HourLayout), hours, max)
	}
	return lake.Hours(from, to), nil
}

// Handle aggregates the payload's hours. Any failed hour makes it return an error naming every
// failed hour, so the invocation fails loudly (async failure destination, alarm).
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Result, error) {
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-StopMargin))
		defer cancel()
	}
	if h.lock != nil {
		owner := fmt.Sprintf("pid-%d-%d", os.Getpid(), time.Now().UnixNano())
		if h.ownerOf != nil {
			owner = h.ownerOf(ctx)
		}
		// waiting for the lease stops with time left for the work (and its own stop margin)
		wait := ctx
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			wait, cancel = context.WithDeadline(ctx, deadline.Add(-LeaseWorkBudget))
			defer cancel()
		}
		release, err := h.lock.Acquire(wait, owner)
		if err != nil {
			return Result{}, fmt.Errorf("waiting for the aggregation that runs: %w", err)
		}
		defer func() {
			if err := release(context.WithoutCancel(ctx)); err != nil {
				h.log.ErrorContext(ctx, "giving back the lease", "err", err)
			}
		}()
	}
	if maintenance(payload) { // the daily schedule: compact the Iceberg tables
		return h.maintain(ctx, payload)
	}
	hours, scheduled, err := h.cfg.hours(payload)
	if err != nil {
		return Result{}, err
	}
	return h.run(ctx, hours, scheduled || h.cfg.Yesterday)
}

// Run aggregates the given hours, oldest first, a few at once.
func (h *Handler) Run(ctx context.Context, hours []time.Time) (Result, error) {
	return h.run(ctx, hours, h.cfg.Yesterday)
}

func (h *Handler) run(ctx context.Context, hours []time.Time, yesterday bool) (Result, error) {
	start := time.Now()
	if p, ok := h.agg.(Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			return Result{}, err
		}
	}
	if h.cfg.Interval < time.Second || h.cfg.Interval > time.Hour {
		// the SQL takes 1 to 3600 readings an hour; any other count would write empty hours
		return Result{}, fmt.Errorf("the reading interval %s is outside 1s to 1h", h.cfg.Interval)
	}
	cat, err := h.catalog(ctx)
	if err != nil {
		return Result{}, err
	}
	expected := int64(time.Hour / h.cfg.Interval)
	results := make([]HourResult, len(hours))
	errs := make([]error, len(hours))
	var g errgroup.Group // errors stay per hour, in errs
	g.SetLimit(max(1, h.cfg.Concurrency))
	var progress sync.Mutex
	done := 0
	for i, hr := range hours {
		g.Go(func() error {
			results[i], errs[i] = h.agg.AggregateHour(ctx, Hour{Start: hr, ExpectedReadings: expected, Catalog: cat})
			if errs[i] != nil {
				errs[i] = fmt.Errorf("hour %s: %w", hr.Format(HourLayout), errs[i])
			}
			if h.cfg.Progress != nil {
				progress.Lock()
				done++
				h.cfg.Progress(done, len(hours))
				progress.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()

	var res Result
	var failed []error
	var scanned int64
	l := emf.New("iotwatch")
	fn := l.With("Function", "aggregate")
	for i, hr := range hours {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			h.log.ErrorContext(ctx, "hour failed", "hour", hr.Format(HourLayout), "err", errs[i])
			continue
		}
		r := results[i]
		res.Hours = append(res.Hours, hr.Format(HourLayout))
		if r.Rows > 0 {
			res.Rows += r.Rows
		}
		scanned += r.BytesScanned
		h.log.InfoContext(ctx, "hour aggregated", "hour", hr.Format(HourLayout), "rows", r.Rows,
			"bytes_scanned", r.BytesScanned, "duration_ms", r.Duration.Milliseconds())
	}
	failedHours := len(failed)
	days, dayErrs := h.days(ctx, hours, errs, yesterday, cat)
	res.Days = days
	fn.Put("HoursAggregated", emf.Count, float64(len(res.Hours))).
		Put("HoursFailed", emf.Count, float64(failedHours)).
		Put("DaysAggregated", emf.Count, float64(len(days))).
		Put("DaysFailed", emf.Count, float64(len(dayErrs))).
		Put("BytesScanned", emf.Bytes, float64(scanned)).
		Put("Duration", emf.Milliseconds, float64(time.Since(start).Milliseconds()))
	if err := l.Write(h.out, time.Now()); err != nil {
		h.log.ErrorContext(ctx, "writing metrics", "err", err)
	}
	if len(failed) > 0 || len(dayErrs) > 0 {
		msg := fmt.Sprintf("%d of %d hours failed", failedHours, len(hours))
		if len(dayErrs) > 0 {
			msg += fmt.Sprintf(", %d of %d days failed", len(dayErrs), len(days)+len(dayErrs))
		}
		return res, fmt.Errorf("%s: %w", msg, errors.Join(append(failed, dayErrs...)...))
	}
	return res, nil
}

// DayFormat names a day in results and logs.
const DayFormat = "2006-01-02"

// days writes daily_metrics for each UTC day of the aggregated hours that is over with its late
// window (its end plus LateHours is not after now), and with yesterday the previous day too: the
// scheduled runs rewrite yesterday from LateHours after midnight on (idempotent: 22 cheap
// rewrites a day, so that a day is written even when its last hour was aggregated by another
// run); a backfill rewrites every finished day it touched. A day with an hour that failed in this
// run waits for a run without (a failed hour is alarmed; its backfill rewrites the day). A day with a failed hour is not written (the next run or backfill of it does).
func (h *Handler) days(ctx context.Context, hours []time.Time, hourErrs []error, yesterday bool, cat *reading.Catalog) ([]string, []error) {
	agg, ok := h.agg.(DayAggregator)
	if !ok {
		return nil, nil
	}
	now := h.cfg.Now()
	late := time.Duration(h.cfg.LateHours) * time.Hour
	broken := map[time.Time]bool{}
	var days []time.Time
	for i, hr := range hours {
		d := hr.UTC().Truncate(24 * time.Hour)
		if hourErrs[i] != nil {
			broken[d] = true
		}
		if len(days) == 0 || !days[len(days)-1].Equal(d) {
			days = append(days, d)
		}
	}
	if yesterday {
		// the latest day whose late window is over
		y := now.UTC().Add(-late - 24*time.Hour).Truncate(24 * time.Hour)
		if !slices.ContainsFunc(days, y.Equal) {
			days = append(days, y)
		}
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	var done []string
	var errs []error
	expected := int64(time.Hour / h.cfg.Interval)
	for _, d := range days {
		end := d.Add(24 * time.Hour)
		if broken[d] || end.Add(late).After(now) {
			continue
		}
		r, err := agg.AggregateDay(ctx, Day{Start: d, ExpectedReadings: expected, Catalog: cat})
		if err != nil {
			errs = append(errs, fmt.Errorf("day %s: %w", d.Format(DayFormat), err))
			h.log.ErrorContext(ctx, "day failed", "day", d.Format(DayFormat), "err", err)
			continue
		}
		done = append(done, d.Format(DayFormat))
		h.log.InfoContext(ctx, "day aggregated", "day", d.Format(DayFormat), "rows", r.Rows, "bytes_scanned", r.BytesScanned,
			"duration_ms", r.Duration.Milliseconds())
	}
	return done, errs
}
