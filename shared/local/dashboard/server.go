// Package dashboard serves the pages people look at over a local lake (`iotwatch serve`, and
// `iotwatch run --http`): the fleet's overview, a device's charts with its thresholds and episodes,
// the alerts' timeline, a heatmap of locations by hour, and the pipeline's health; and writes the
// same charts into one self-contained HTML report (`iotwatch report`). Pages are rendered on the
// server (html/template); the charts are uPlot, embedded in the binary, so nothing is fetched from
// the network. The lake is read by shared/local/lakeview: it holds DuckDB and runs a page's
// queries one at a time; the pages here parse the requests and render what it returns.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

//go:embed templates/*.html
var templateFS embed.FS

// Assets are the files the pages load from /assets/: uPlot (from npm, see assets/README.md), the
// style sheet and the pages' script.
//
//go:embed assets/*
var assetFS embed.FS

// Live is what a running pipeline adds to the pages: the alarm states as they are now (open
// episodes, acknowledgements, when each device last reported), its counters, and the people's
// actions (acknowledge, snooze). `iotwatch serve` has none: it reads the lake only.
type Live interface {
	States() map[string]evaluator.State
	Counters() Counters
	// Do is links.API.Do: "ack", "snooze", "unsnooze".
	Do(ctx context.Context, action string, req links.Request, via string) (bool, int, error)
}

// Counters are a running pipeline's totals and lags, as its /metrics serves them.
type Counters struct {
	Messages  int64            `json:"messages"`
	Readings  int64            `json:"readings"`
	Rejected  map[string]int64 `json:"rejected"`
	Alerts    int64            `json:"alerts"`
	Lag       int64            `json:"lag"`
	BronzeLag int64            `json:"bronze_lag"`
	LogBytes  int64            `json:"log_bytes"`
	LogFull   bool             `json:"log_full"`
	// PassRatePct is the share of the messages that passed validation since the run started
	// (100 with none): the data-quality pass rate of DESIGN.md.
	PassRatePct float64 `json:"pass_rate_pct"`
}

// Config is what a Server shows.
type Config struct {
	// Lake is the lake's directory.
	Lake string
	// Devices (names, locations) is the run's devices file; it may be empty.
	Devices []device.Device
	// Rules are the rules in force, read at each page: the device charts draw their thresholds,
	// the alerts page offers their users. A running pipeline's store (lakeview.StoreRules), so
	// that an edit of its files shows at the next page, or the files read once (lakeview.StaticRules);
	// nil: none.
	Rules lakeview.Rules
	// Catalog is the metrics catalog in force, read at each page: the device page charts each
	// declared metric the device has data for, with its unit. A running pipeline's store, so that
	// an edit of its metrics file shows at the next page, or the file read once
	// (lakeview.StaticCatalog); nil: the built-in metrics only.
	Catalog lakeview.Catalog
	// Live is the running pipeline (nil: the lake only). Actions says whether its acknowledge and
	// snooze buttons are shown: only where only this machine reaches the pages (no login).
	Live    Live
	Actions bool
	// Loopback says the pages are served on a loopback address: a request whose Host is not
	// this machine's (a page of another site that rebinds its name to 127.0.0.1) is refused.
	Loopback bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// Server is the pages over one lake.
type Server struct {
	cfg     Config
	lake    *lakeview.Reader // holds the one-query-at-a-time lock: the pages take none
	tmpl    *template.Template
	mux     *http.ServeMux
	streams chan struct{} // the live streams open: a bounded number
}

// New opens the lake (lakeview.Open: DuckDB, locked to it by duckdbengine.OpenReadOnly) and
// returns the pages.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	lake, err := lakeview.Open(ctx, lakeview.Config{Lake: cfg.Lake, Devices: cfg.Devices, Rules: cfg.Rules, Catalog: cfg.Catalog, States: cfg.Live, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, lake: lake, streams: make(chan struct{}, maxStreams)}
	s.tmpl, err = template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		_ = lake.Close()
		return nil, fmt.Errorf("parsing the page templates: %w", err)
	}
	assets, _ := fs.Sub(assetFS, "assets")
	m := http.NewServeMux()
	m.Handle("GET /assets/", http.StripPrefix("/assets/", cacheFor(http.FileServerFS(assets))))
	m.HandleFunc("GET /{$}", s.page("overview", s.overview))
	m.HandleFunc("GET /device/{id}", s.page("device", s.device))
	m.HandleFunc("GET /alerts", s.page("alerts", s.alerts))
	m.HandleFunc("GET /heatmap", s.page("heatmap", s.heatmap))
	m.HandleFunc("GET /pipeline", s.page("pipeline", s.pipeline))
	if cfg.Live != nil {
		m.HandleFunc("GET /events", s.events)
		if cfg.Actions {
			// A form posted from another site is refused (Sec-Fetch-Site, Origin): the buttons
			// act for whoever views the pages, so only the pages themselves may press them.
			m.Handle("POST /actions/{action}", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.act)))
		}
	}
	s.mux = m
	return s, nil
}

// maxStreams bounds the live streams (each reads the run's states once a second).
const maxStreams = 16

// Close releases DuckDB, once the page or Warm in progress is done.
func (s *Server) Close() error {
	return s.lake.Close()
}

// Warm fills the lake's caches (lakeview.Reader.Warm), so that the first page after a start
// answers as fast as the next ones.
func (s *Server) Warm(ctx context.Context) error {
	return s.lake.Warm(ctx)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Loopback && !links.LoopbackHost(r.Host) {
		http.Error(w, "these pages answer on this machine's own addresses only", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// Paths are the pages a Server answers, for a mux that shares the address with other handlers.
var Paths = []string{"/{$}", "/device/", "/alerts", "/heatmap", "/pipeline", "/events", "/actions/", "/assets/"}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// view is what every page's template gets: the page's own data and the frame's.
type view struct {
	Page       string
	Title      string
	Now        time.Time
	Historical bool // the lake's readings end before the clock: times are relative to their end
	Live       bool
	Actions    bool
	Data       any
}

// page renders one page: build reads the lake at the pages' clock (each of the lake's reads takes
// its one-query-at-a-time lock).
func (s *Server) page(name string, build func(*http.Request, time.Time) (string, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now, historical := s.lake.Clock()
		title, data, err := build(r, now)
		if err == errNotFound {
			http.Error(w, "no such page", http.StatusNotFound)
			return
		}
		if err != nil {
			s.cfg.Log.ErrorContext(r.Context(), "dashboard: building a page", "page", name, "err", err)
			http.Error(w, "the lake could not be read (the log says why)", http.StatusInternalServerError)
			return
		}
		var b strings.Builder
		v := view{Page: name, Title: title, Now: now, Historical: historical, Live: s.cfg.Live != nil, Actions: s.cfg.Live != nil && s.cfg.Actions, Data: data}
		if err := s.tmpl.ExecuteTemplate(&b, name+".html", v); err != nil {
			s.cfg.Log.ErrorContext(r.Context(), "dashboard: rendering a page", "page", name, "err", err)
			http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	}
}

// Clock is the time the pages end at, and whether it is the lake's end rather than now
// (lakeview.Reader.Clock).
func (s *Server) Clock() (time.Time, bool) {
	return s.lake.Clock()
}

var errNotFound = errors.New("not found")

// ReadDevices reads the devices file (names, locations) the pages name devices by; "" is none.
func ReadDevices(path string) ([]device.Device, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return device.ParseCSV(f, path)
}
