package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/dashboard"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// linkSecret is the lake's secret for one-click links: made once (32 random bytes, readable by
// the owner only) and kept in the lake's state, so that links sent before a restart still work.
func linkSecret(lakeDir string) ([]byte, error) {
	path := filepath.Join(lakeDir, "state", "link-secret")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < links.MinSecret {
			// Replacing it would break every link sent: say so, and let a person decide.
			return nil, fmt.Errorf("the links' secret %s has %d bytes, want %d: remove it to make a new one (links sent so far stop working)", path, len(b), links.MinSecret)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the links' secret: %w", err)
	}
	b = make([]byte, links.MinSecret)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing the links' secret: %w", err)
	}
	return b, nil
}

// linkServer serves the one-click links on cfg.HTTP: the pages of shared/service/links over the
// run's own store (what they do is protected by their codes, on any address).
type linkServer struct {
	srv    *http.Server
	ln     net.Listener
	dash   *dashboard.Server // nil when the pages are not served
	ctx    context.Context   // the requests'; cancelled at stop
	cancel context.CancelFunc
	warm   sync.WaitGroup // the pages' first read of the lake
}

func (p *pipeline) startLinks() {
	go func() {
		if err := p.links.srv.Serve(p.links.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.cfg.Log.Error("links server", "err", err)
		}
	}()
	if p.links.dash != nil {
		p.links.warm.Go(func() { // the stop cancels it and waits for it
			if err := p.links.dash.Warm(p.links.ctx); err != nil && p.links.ctx.Err() == nil {
				p.cfg.Log.Warn("dashboard: reading the lake", "err", err)
			}
		})
	}
	p.cfg.Log.Info("links served", "addr", p.links.ln.Addr().String())
}

func (p *pipeline) stopLinks() {
	if p.links == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.links.cancel != nil {
		p.links.cancel()
	}
	if p.links.srv != nil {
		_ = p.links.srv.Shutdown(ctx)
	}
	_ = p.links.ln.Close() // closed already when it served; not when the run failed to start
	p.links.warm.Wait()
	if p.links.dash != nil {
		_ = p.links.dash.Close()
	}
}

// dashboard is the pages over the run's lake, with the run's states, counters and actions, and
// the rules and metrics catalog its store holds now: the store follows the thresholds, rules and
// metrics files (Reload), so a page drawn after an edit draws the edited thresholds and metrics.
func (p *pipeline) dashboard(cfg Config, api *links.API, actions bool) (*dashboard.Server, error) {
	dc := dashboard.Config{Lake: cfg.Lake, Rules: lakeview.StoreRules{Store: p.store}, Catalog: p.store.Catalog, Live: live{p: p, api: api}, Actions: actions,
		Loopback: actions, Log: cfg.Log}
	var err error
	if dc.Devices, err = dashboard.ReadDevices(cfg.Devices); err != nil { // the names; the rules are the store's
		return nil, err
	}
	return dashboard.New(context.Background(), dc)
}

// live is what the run shows the pages (dashboard.Live).
type live struct {
	p   *pipeline
	api *links.API
}

func (l live) States() map[string]evaluator.State { return l.p.store.States() }

func (l live) Do(ctx context.Context, action string, req links.Request, via string) (bool, int, error) {
	return l.api.Do(ctx, action, req, via)
}

func (l live) Counters() dashboard.Counters {
	sum := l.p.summary()
	st := sum.Log
	c := dashboard.Counters{Messages: sum.Messages, Readings: int64(sum.Readings), Rejected: map[string]int64{}, Lag: l.p.lag(),
		BronzeLag: l.p.bronzeLag(), LogBytes: st.Bytes, LogFull: st.Full}
	var rejected int64
	for r, n := range sum.Rejected {
		c.Rejected[string(r)] = int64(n)
		rejected += int64(n)
	}
	c.PassRatePct = 100
	if total := int64(sum.Readings) + rejected; total > 0 {
		c.PassRatePct = 100 * float64(sum.Readings) / float64(total)
	}
	for _, n := range sum.Alerts {
		c.Alerts += int64(n)
	}
	return c
}
