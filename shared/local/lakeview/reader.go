// Package lakeview reads a local lake for the pages (shared/local/dashboard): DuckDB queries over
// the hour partitions a page shows only, the caches of the last month's gold and the last two
// months' alerts, and the page data they make (the overview, a device's charts, the episodes, the
// heatmap, the pipeline's health, the report's). It renders nothing: the types it returns are
// what the dashboard's templates show.
//
// DuckDB's session is one connection: a Reader runs one query at a time. The lock is the
// Reader's: each of its exported methods takes it for the whole of its read (a page's data, the
// report's, Warm, Clock, Close), so they may be called from any number of goroutines; its
// unexported methods run under it. Its callers (the dashboard) hold no lock of their own.
package lakeview

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// States are the alarm states of a running pipeline as they are now (open episodes,
// acknowledgements, when each device last reported): they say what the lake does not hold yet.
type States interface {
	States() map[string]evaluator.State
}

// Config is what a Reader reads.
type Config struct {
	// Lake is the lake's directory.
	Lake string
	// Devices (names, locations) is the run's devices file; it may be empty.
	Devices []device.Device
	// Rules are the rules in force a device's charts draw, read at each page (nil: none).
	Rules Rules
	// Catalog is the metrics catalog in force, read at each page: a device's page charts each
	// declared metric the device has data for (nil: the built-in metrics only).
	Catalog Catalog
	// States are the running pipeline's (nil: the lake only).
	States States
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Reader reads one lake for the pages.
type Reader struct {
	cfg     Config
	root    string
	eng     *duckdbengine.Engine
	db      *sql.DB
	devices map[string]device.Device
	mu      sync.Mutex       // one read at a time: DuckDB's session is one connection
	now     time.Time        // the clock of the read in progress, which the caches' windows end at (under mu)
	catalog *reading.Catalog // the metrics catalog of the read in progress, once read (under mu)
	catRead bool             // whether catalog was read in the read in progress
	gold    *cache           // the last month's hourly metrics
	alertC  *cache           // the last two months' alerts
}

// Open opens DuckDB over the lake, locked to it (duckdbengine.OpenReadOnly).
func Open(ctx context.Context, cfg Config) (*Reader, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	eng, err := duckdbengine.OpenReadOnly(ctx, cfg.Lake)
	if err != nil {
		return nil, fmt.Errorf("opening the lake: %w", err)
	}
	r := &Reader{cfg: cfg, root: eng.Root(), eng: eng, db: eng.DB(), devices: map[string]device.Device{}}
	r.gold, r.alertC = newCaches()
	for _, d := range cfg.Devices {
		r.devices[d.ID] = d
	}
	return r, nil
}

// Close releases DuckDB, once the read in progress is done.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eng.Close()
}

// Root is the lake's directory, as DuckDB reads it.
func (r *Reader) Root() string { return r.root }

// Label names a device as the registry does.
func (r *Reader) Label(id string) string {
	if d, ok := r.devices[id]; ok {
		return d.Label()
	}
	return id
}

// Clock is the time the pages end at, and whether it is the lake's end rather than now (see clock).
func (r *Reader) Clock() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock()
}

// clock is the time the pages end at: now, or, when the lake's newest readings are hours older
// (a lake of recordings, a pipeline stopped), the newest reading's time, so that the pages show
// the lake's last day rather than an empty one. The caller holds r.mu.
func (r *Reader) clock() (time.Time, bool) {
	now := r.cfg.Now().UTC()
	latest, ok := r.latestHour("bronze")
	if !ok || now.Sub(latest) < 3*time.Hour {
		return now, false
	}
	end := latest.Add(time.Hour)
	if files := r.files("bronze", latest, end, ".json.gz"); len(files) > 0 {
		var last sql.NullTime
		q := "SELECT max(ts) FROM (" + bronzeSQL(files) + ") WHERE ts < ?"
		if err := r.db.QueryRow(q, end).Scan(&last); err == nil && last.Valid {
			return last.Time.UTC().Add(time.Microsecond), true // just after it: ranges end before their end
		}
	}
	return end, true
}

// at takes the lake for one read at the clock now (the caches' windows end there); the caller
// calls the function it returns when the read is done.
func (r *Reader) at(now time.Time) (unlock func()) {
	r.mu.Lock()
	r.now = now
	r.catalog, r.catRead = nil, false
	return r.mu.Unlock
}

// Overview reads the overview page at now.
func (r *Reader) Overview(ctx context.Context, now time.Time) (Overview, error) {
	defer r.at(now)()
	return r.overview(ctx, now)
}

// Device reads a device's page: its charts, episodes and latest readings over the span before now.
func (r *Reader) Device(ctx context.Context, now time.Time, id string, span time.Duration) (DevicePage, error) {
	defer r.at(now)()
	return r.deviceData(ctx, id, now.Add(-span), now)
}

// EpisodesSince reads the episodes of every device that overlap from..now (those open at now
// included, however old), newest first.
func (r *Reader) EpisodesSince(ctx context.Context, now, from time.Time) ([]Episode, error) {
	defer r.at(now)()
	return r.episodes(ctx, from, now, "")
}

// Heatmap reads the heatmap page at now: by "temperature" or "health", over range "24h" or "7d",
// coloured on the cells' own range or, fixed, on FixedTemperature's.
func (r *Reader) Heatmap(ctx context.Context, now time.Time, by, rng string, fixed bool) (Heatmap, error) {
	defer r.at(now)()
	return r.heatmapData(ctx, now, by, rng, fixed)
}

// Pipeline reads the pipeline page at now: throughput, quarantine, data quality and the
// aggregated hours.
func (r *Reader) Pipeline(ctx context.Context, now time.Time) (PipelinePage, error) {
	defer r.at(now)()
	return r.pipelineData(ctx, now)
}

// Warm fills the caches (a second or so for a month of a hundred devices), so that the first
// page after a start answers as fast as the next ones.
func (r *Reader) Warm(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, _ := r.clock()
	r.now = now
	if err := r.refresh(ctx, r.gold, now); err != nil {
		return err
	}
	return r.refresh(ctx, r.alertC, now)
}
