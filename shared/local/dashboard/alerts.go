package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// Filters are the alerts page's choices.
type Filters struct {
	User, Device, Rule, Severity string
	OpenOnly                     bool
	Range                        string
}

// EpisodeRow is one episode on the alerts page, with its bar on the timeline (percentages of the
// range's width).
type EpisodeRow struct {
	lakeview.Episode
	Label       string
	Left, Width float64
	Snoozed     bool
}

// AlertsPage is the alerts page's data.
type AlertsPage struct {
	Filters                       Filters
	From, To                      time.Time
	Rows                          []EpisodeRow
	Total                         int
	Users, Devices, Rules, Ranges []string
	Severities                    []string
	Back                          string // this page's URL, where an action returns to
	Ticks                         []Tick
}

// Tick is a label on the timeline's axis.
type Tick struct {
	Left  float64
	Label string
}

// ranges are the choices of a page's time range.
var ranges = map[string]time.Duration{"6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

var rangeNames = []string{"6h", "24h", "7d", "30d"}

// rangeOf reads a page's range parameter (def when absent or unknown).
func rangeOf(q url.Values, def string) (string, time.Duration) {
	name := q.Get("range")
	if d, ok := ranges[name]; ok {
		return name, d
	}
	return def, ranges[def]
}

func (s *Server) alerts(r *http.Request, now time.Time) (string, any, error) {
	q := r.URL.Query()
	f := Filters{User: q.Get("user"), Device: q.Get("device"), Rule: q.Get("rule"), Severity: q.Get("severity"), OpenOnly: q.Get("open") == "1"}
	var span time.Duration
	f.Range, span = rangeOf(q, "7d")
	from := now.Add(-span)
	eps, err := s.lake.EpisodesSince(r.Context(), now, from)
	if err != nil {
		return "", nil, err
	}
	p := AlertsPage{Filters: f, From: from, To: now, Ranges: rangeNames, Severities: []string{"WARNING", "VIOLATION"}, Back: r.URL.RequestURI()}
	seen := map[string]map[string]bool{"u": {}, "d": {}, "r": {}}
	for _, e := range eps {
		seen["u"][e.User], seen["d"][e.Device], seen["r"][e.Rule] = true, true, true
		if f.User != "" && e.User != f.User || f.Device != "" && e.Device != f.Device || f.Rule != "" && e.Rule != f.Rule ||
			f.Severity != "" && e.Severity != f.Severity || f.OpenOnly && !e.Open() {
			continue
		}
		p.Total++
		if len(p.Rows) >= 500 {
			continue // the newest 500 on the page; the count says how many match
		}
		start, end := e.Start, e.End
		if start.Before(from) {
			start = from
		}
		if e.Open() || end.After(now) {
			end = now
		}
		row := EpisodeRow{Episode: e, Label: s.lake.Label(e.Device), Snoozed: e.SnoozedUntil.After(now)}
		row.Left = 100 * float64(start.Sub(from)) / float64(span)
		row.Width = max(0.4, 100*float64(end.Sub(start))/float64(span))
		p.Rows = append(p.Rows, row)
	}
	for _, d := range s.cfg.Devices {
		seen["d"][d.ID] = true
	}
	if err := s.ruleUsers(r.Context(), seen["d"], seen["u"]); err != nil {
		return "", nil, err
	}
	keys := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			if k != "" {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	p.Users, p.Devices, p.Rules = keys(seen["u"]), keys(seen["d"]), keys(seen["r"])
	layout := "Jan 2"
	if span <= 24*time.Hour {
		layout = "15:04"
	}
	for i := 0; i <= 2; i++ {
		t := from.Add(time.Duration(i) * span / 2)
		p.Ticks = append(p.Ticks, Tick{Left: float64(i) * 50, Label: t.Format(layout)})
	}
	return "Alerts", p, nil
}

// ruleUsers adds to users the users of the rules in force now for each of the devices, so that
// the alerts page offers a user whose rules raised no episode in its range.
func (s *Server) ruleUsers(ctx context.Context, devices, users map[string]bool) error {
	if s.cfg.Rules == nil {
		return nil
	}
	for id := range devices {
		if id == "" {
			continue
		}
		rules, err := s.cfg.Rules.InForce(ctx, id)
		if err != nil {
			return err
		}
		for _, f := range rules {
			users[f.UserID] = true
		}
	}
	return nil
}

// act carries out a button of the alerts page (acknowledge, snooze for an hour, unsnooze) as the
// episode's user, then returns to the page it came from.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "a form was expected", http.StatusBadRequest)
		return
	}
	action := r.PathValue("action")
	req := links.Request{User: r.PostForm.Get("user"), Device: r.PostForm.Get("device"), Rule: r.PostForm.Get("rule")}
	if action == "snooze" {
		d, err := time.ParseDuration(r.PostForm.Get("for"))
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			http.Error(w, "snooze for a duration up to 7 days (1h, 30m)", http.StatusBadRequest)
			return
		}
		req.Until = s.cfg.Now().Add(d)
	}
	if _, status, err := s.cfg.Live.Do(r.Context(), action, req, "dashboard"); err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	back := r.PostForm.Get("back")
	if !localPath(back) {
		back = "/alerts"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// localPath says whether back is a path of this site a redirect may go to: one slash, then no
// slash or backslash (browsers read "/\\host" and "//host" as another site), no scheme or host.
func localPath(back string) bool {
	u, err := url.Parse(back)
	return err == nil && !u.IsAbs() && u.Host == "" && strings.HasPrefix(back, "/") && !strings.HasPrefix(back, "//") &&
		!strings.ContainsAny(back, "\\\r\n") && strings.HasPrefix(u.Path, "/")
}
