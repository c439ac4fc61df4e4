package dashboard

import (
	"net/http"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

func (s *Server) overview(r *http.Request, now time.Time) (string, any, error) {
	o, err := s.lake.Overview(r.Context(), now)
	return "Overview", o, err
}

func (s *Server) device(r *http.Request, now time.Time) (string, any, error) {
	id := r.PathValue("id")
	if !reading.ValidDeviceID(id) {
		return "", nil, errNotFound
	}
	name, span := rangeOf(r.URL.Query(), "24h")
	p, err := s.lake.Device(r.Context(), now, id, span)
	p.Range, p.Ranges = name, rangeNames
	return p.Label, p, err
}

func (s *Server) heatmap(r *http.Request, now time.Time) (string, any, error) {
	by := r.URL.Query().Get("by")
	if by != "health" {
		by = "temperature"
	}
	rng := r.URL.Query().Get("range")
	if rng != "7d" {
		rng = "24h"
	}
	h, err := s.lake.Heatmap(r.Context(), now, by, rng, r.URL.Query().Get("scale") == "fixed")
	return "Heatmap", h, err
}

// pipelinePage is the pipeline page's data: the lake's, and a running pipeline's counters.
type pipelinePage struct {
	lakeview.PipelinePage
	Counters *Counters // nil without a running pipeline
}

func (s *Server) pipeline(r *http.Request, now time.Time) (string, any, error) {
	var p pipelinePage
	if s.cfg.Live != nil {
		c := s.cfg.Live.Counters()
		p.Counters = &c
	}
	var err error
	p.PipelinePage, err = s.lake.Pipeline(r.Context(), now)
	return "Pipeline", p, err
}
