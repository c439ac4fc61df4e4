package dashboard

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

// ReportPage is the report's data: the lake's (lakeview.Report), and the pages' style and
// script, inlined.
type ReportPage struct {
	From, To  time.Time
	Generated time.Time
	Lake      string
	lakeview.Report
	Style  template.CSS
	Script template.JS
}

// Report writes one self-contained HTML file of the lake from..to: the fleet's health, alerts by
// rule and severity, and per device its charts (the pages' own chart code, inlined with uPlot)
// and episodes. It opens with no network.
func (s *Server) Report(ctx context.Context, w io.Writer, from, to time.Time) error {
	if !to.After(from) {
		return fmt.Errorf("the report's range is empty: %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	p := ReportPage{From: from.UTC(), To: to.UTC(), Generated: s.cfg.Now().UTC(), Lake: s.lake.Root()}
	css, err := inline("uPlot.min.css", "app.css")
	if err != nil {
		return err
	}
	js, err := inline("uPlot.iife.min.js", "app.js")
	if err != nil {
		return err
	}
	p.Style, p.Script = template.CSS(css), template.JS(js)
	if p.Report, err = s.lake.Report(ctx, from, to); err != nil {
		return err
	}
	for j := range p.Devices { // every device's charts in one page: their ids name the device
		d := &p.Devices[j]
		for i := range d.Charts {
			d.Charts[i].ID = d.ID + "-" + d.Charts[i].ID
		}
	}
	return s.tmpl.ExecuteTemplate(w, "report.html", p)
}

// inline is the assets' files, one after the other.
func inline(files ...string) (string, error) {
	var out []byte
	for _, f := range files {
		b, err := assetFS.ReadFile("assets/" + f)
		if err != nil {
			return "", err
		}
		out = append(append(out, b...), '\n')
	}
	return string(out), nil
}
