package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
	Rows                          []EpisodeRow // the page's, newest first
	Total                         int          // the episodes that match the filters
	First                         int          // the number of the page's first row (1 for the newest)
	Page, Pages                   int
	Newer, Older                  string // the links to the next pages ("" at an end)
	ByDevice                      []DeviceEpisodes
	Users, Devices, Rules, Ranges []string
	Severities                    []string
	Back                          string // this page's URL, where an action returns to
	Ticks                         []Tick
}

// DeviceEpisodes are one device's episodes that match the filters, on one timeline.
type DeviceEpisodes struct {
	ID, Label                  string
	Episodes, Open, Violations int
	Bars                       []Bar
	Link                       string // the alerts page of this device alone
}

// Bar is an episode on a timeline (percentages of the range's width).
type Bar struct {
	Left, Width float64
	Severity    string
	Title       string
}

// perPage is how many episodes a page of the alerts list shows: a fleet's week can hold hundreds.
// A variable for a test, whose lake holds ten.
var perPage = 50

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
	var matched []EpisodeRow
	byDevice := map[string]*DeviceEpisodes{}
	var order []string // the devices by their newest episode
	for _, e := range eps {
		seen["u"][e.User], seen["d"][e.Device], seen["r"][e.Rule] = true, true, true
		if f.User != "" && e.User != f.User || f.Device != "" && e.Device != f.Device || f.Rule != "" && e.Rule != f.Rule ||
			f.Severity != "" && e.Severity != f.Severity || f.OpenOnly && !e.Open() {
			continue
		}
		start, end := e.Start, e.End
		if start.Before(from) {
			start = from
		}
		if e.Open() || end.After(now) {
			end = now
		}
		bar := Bar{Left: 100 * float64(start.Sub(from)) / float64(span), Width: max(0.4, 100*float64(end.Sub(start))/float64(span)), Severity: e.Severity}
		bar.Title = e.Rule + " (" + e.User + "), " + when(e.Start) + " to "
		if e.Open() {
			bar.Title += "now"
		} else {
			bar.Title += when(e.End)
		}
		g := byDevice[e.Device]
		if g == nil {
			g = &DeviceEpisodes{ID: e.Device, Label: s.lake.Label(e.Device), Link: pageLink(q, "device", e.Device)}
			byDevice[e.Device] = g
			order = append(order, e.Device)
		}
		g.Episodes++
		g.Bars = append(g.Bars, bar)
		if e.Open() {
			g.Open++
		}
		if e.Severity == "VIOLATION" {
			g.Violations++
		}
		matched = append(matched, EpisodeRow{Episode: e, Label: g.Label, Snoozed: e.SnoozedUntil.After(now), Left: bar.Left, Width: bar.Width})
	}
	p.Total = len(matched)
	p.Pages = max(1, (p.Total+perPage-1)/perPage)
	p.Page = min(max(1, atoi(q.Get("page"))), p.Pages)
	p.First = (p.Page-1)*perPage + 1
	p.Rows = matched[p.First-1 : min(p.Total, p.First-1+perPage)]
	if p.Page > 1 {
		p.Newer = pageLink(q, "page", strconv.Itoa(p.Page-1))
	}
	if p.Page < p.Pages {
		p.Older = pageLink(q, "page", strconv.Itoa(p.Page+1))
	}
	// The devices with the most open episodes first, then the most episodes: where to look.
	for _, id := range order {
		p.ByDevice = append(p.ByDevice, *byDevice[id])
	}
	slices.SortStableFunc(p.ByDevice, func(a, b DeviceEpisodes) int {
		if a.Open != b.Open {
			return b.Open - a.Open
		}
		if a.Episodes != b.Episodes {
			return b.Episodes - a.Episodes
		}
		return strings.Compare(a.ID, b.ID)
	})
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
	p.Ticks = ticks(from, span)
	return "Alerts", p, nil
}

// tickSteps are the timeline's tick spacing and label by range: whole UTC hours or days, about
// six to eight ticks, so that a bar can be read against the hours or days around it.
var tickSteps = []struct {
	upTo, step time.Duration
	layout     string
}{
	{6 * time.Hour, time.Hour, "15:04"},
	{24 * time.Hour, 4 * time.Hour, "15:04"},
	{7 * 24 * time.Hour, 24 * time.Hour, "01-02"},
	{31 * 24 * time.Hour, 5 * 24 * time.Hour, "01-02"},
}

// ticks are the timeline's ticks from `from` over span: at each whole step (UTC), leaving out
// those too near an end for their label to fit.
func ticks(from time.Time, span time.Duration) []Tick {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span <= s.upTo {
			step = s
			break
		}
	}
	var out []Tick
	first := from.UTC().Truncate(step.step)
	if step.step >= 24*time.Hour { // days from midnight UTC
		first = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	}
	for t := first; !t.After(from.Add(span)); t = t.Add(step.step) {
		left := 100 * float64(t.Sub(from)) / float64(span)
		if left < 4 || left > 96 {
			continue
		}
		out = append(out, Tick{Left: left, Label: t.UTC().Format(step.layout)})
	}
	return out
}

// pageLink is the alerts page's URL with its filters and key set to value (the page reset to the
// first unless key is the page).
func pageLink(q url.Values, key, value string) string {
	v := url.Values{}
	for k, vs := range q {
		if k != "page" {
			v[k] = vs
		}
	}
	v.Set(key, value)
	return "/alerts?" + v.Encode()
}

// atoi is a page number's value, 0 when it is none.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
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
