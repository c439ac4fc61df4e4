package links

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Recorder keeps what people did (the lake's alerts table, as rows of kind ACK and SNOOZE); nil:
// nothing is recorded beyond the state.
type Recorder interface {
	Record(ctx context.Context, a alert.Alert) error
}

// Published records actions as rows published like alerts (the lake's subscription keeps them;
// the users' subscriptions take only the kinds that notify).
type Published struct{ Publisher evaluator.Publisher }

// Record implements Recorder.
func (p Published) Record(ctx context.Context, a alert.Alert) error {
	return p.Publisher.Publish(ctx, []evaluator.Notice{{Alert: a}})[0]
}

// Handler serves the links: GET shows what the link would do and a button, POST does it.
type Handler struct {
	signer   *Signer
	store    evaluator.Store
	recorder Recorder
	now      func() time.Time
	log      *slog.Logger
}

// NewHandler returns the links' handler over the store the evaluation reads.
func NewHandler(signer *Signer, store evaluator.Store, recorder Recorder, now func() time.Time, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{signer: signer, store: store, recorder: recorder, now: now, log: log}
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>iotwatch: {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1.1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:1px solid #235;background:#2a5db0;color:#fff}
.fail{color:#a11}</style></head><body>
<h1>{{.Title}}</h1>
{{if .Fail}}<p class="fail">{{.Message}}</p>{{else}}<p>{{.Message}}{{if .Until}} <time datetime="{{.Until}}">{{.Until}}</time>{{.After}}{{end}}</p>{{end}}
{{if .Confirm}}<form method="post"><button type="submit">{{.Confirm}}</button></form>{{end}}
{{if .Until}}<script>` + localTimes + `</script>{{end}}
</body></html>
`))

// localTimes writes the page's times on the reader's clock (the browser knows its zone; the
// server does not): "Mar 1, 2026, 2:31 PM (Asia/Kolkata)". Without scripts the page keeps the
// UTC time it was served with. The Content-Security-Policy allows this script alone, by its hash.
const localTimes = `for(const t of document.querySelectorAll("time[datetime]")){const d=new Date(t.dateTime);` +
	`if(!isNaN(d))t.textContent=d.toLocaleString(undefined,{dateStyle:"medium",timeStyle:"short"})+" ("+Intl.DateTimeFormat().resolvedOptions().timeZone+")"}`

// contentPolicy is the pages' Content-Security-Policy: nothing from anywhere, the page's own
// styles, its form posting to itself, and localTimes.
var contentPolicy = func() string {
	sum := sha256.Sum256([]byte(localTimes))
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'self'"
}()

type view struct {
	Title, Message, Confirm string
	// Until, when set, is a time (RFC 3339, UTC) written after Message, on the reader's clock
	// when the browser runs localTimes; After follows it.
	Until, After string
	Fail         bool
}

func (h *Handler) render(w http.ResponseWriter, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", contentPolicy)
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		h.log.Error("rendering a link page", "err", err)
	}
}

func describe(a Action, e alarm.Episode, device string) string {
	what := "acknowledge"
	if a == Snooze {
		what = "snooze for one hour"
	}
	return what + " " + e.User + "'s " + string(e.Severity) + " " + string(e.Rule) + " episode on " + device +
		", open since " + e.Since.Format(time.RFC3339)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, POST")
		h.render(w, http.StatusMethodNotAllowed, view{Title: "Not allowed", Message: "Open the link in a browser.", Fail: true})
		return
	}
	// Everything the path can tell is checked before the table is read: a forged link costs one
	// HMAC and no request to the table (the function is public).
	now := h.now()
	tok, status := h.signer.Verify(r.URL.Path, now)
	switch status {
	case NotALink:
		h.render(w, http.StatusNotFound, view{Title: "Not a link", Message: "This address is not an iotwatch link.", Fail: true})
		return
	case Altered:
		h.render(w, http.StatusGone, view{Title: "Link not valid", Message: "This link was altered, it is not from this deployment, or it was sent before an update of iotwatch (the alerts sent since carry links that work). Nothing was changed.", Fail: true})
		return
	case Expired:
		h.render(w, http.StatusGone, view{Title: "Link expired", Message: "This link was sent on " + tok.Sent.Format(time.DateOnly) + " and worked for 7 days. Nothing was changed.", Fail: true})
		return
	}
	ctx := r.Context()
	device, code := tok.Device, tok.Code
	dev, err := h.store.LoadDevice(ctx, device)
	if err != nil {
		h.log.ErrorContext(ctx, "link: reading the device", "device", device, "err", err)
		h.render(w, http.StatusServiceUnavailable, view{Title: "Try again", Message: "The alarm state could not be read; nothing was changed.", Fail: true})
		return
	}
	episode, ok := h.signer.Find(tok, dev.State.Alarm.Episodes())
	if !ok {
		h.render(w, http.StatusGone, view{Title: "Link not valid", Message: "This link is for an episode that is over. Nothing was changed.", Fail: true})
		return
	}
	label := dev.Info.Label()
	if label == "" {
		label = device
	}
	if dev.State.Alarm.LinkUsed(code) {
		h.render(w, http.StatusOK, view{Title: "Already used", Message: "This link was used already; a link works once. Nothing was changed."})
		return
	}
	if tok.Action == Ack && episode.Acked {
		h.render(w, http.StatusOK, view{Title: "Already acknowledged", Message: "The " + string(episode.Rule) + " episode on " + label + " is acknowledged already. Nothing was changed."})
		return
	}
	if r.Method != http.MethodPost {
		h.render(w, http.StatusOK, view{Title: "Confirm", Message: "You are about to " + describe(tok.Action, episode, label) + ".", Confirm: map[Action]string{Ack: "Acknowledge", Snooze: "Snooze 1 h"}[tok.Action]})
		return
	}
	h.act(w, r, tok.Action, device, label, code, episode, now, tok.Expires)
}

func (h *Handler) act(w http.ResponseWriter, r *http.Request, action Action, device, label, code string, e alarm.Episode, now, expires time.Time) {
	ctx := r.Context()
	rule, err := alarm.ParseRule(string(e.Rule))
	if err != nil {
		h.render(w, http.StatusGone, view{Title: "Link not valid", Message: "Nothing was changed.", Fail: true})
		return
	}
	until := now.Add(SnoozeFor)
	changed, err := evaluator.Act(ctx, h.store, device, func(st *alarm.DeviceState) (bool, error) {
		// Read again (also after a conflict): the link must still be unused and its episode open.
		rs := st.Rules[alarm.RuleKey(rule, e.User)]
		if st.LinkUsed(code) || rs == nil || rs.Open == alarm.OK || rs.OpenStart != e.Since.UnixNano() {
			return false, nil
		}
		if action == Ack {
			if !st.Ack(rule, e.User) {
				return false, nil
			}
		} else {
			st.SnoozeVia(e.User, e.Rule, until, code)
		}
		st.UseLink(code, expires, now)
		return true, nil
	})
	if err != nil {
		h.log.ErrorContext(ctx, "link: acting", "device", device, "err", err)
		h.render(w, http.StatusServiceUnavailable, view{Title: "Try again", Message: "The alarm state could not be written; nothing was changed.", Fail: true})
		return
	}
	if !changed {
		h.render(w, http.StatusOK, view{Title: "Nothing to do", Message: "The link was used, or its episode acknowledged or closed, meanwhile. Nothing was changed."})
		return
	}
	if h.recorder != nil {
		if err := h.recorder.Record(ctx, Record(action, device, e, now, until)); err != nil {
			h.log.ErrorContext(ctx, "link: recording the action", "device", device, "err", err)
		}
	}
	if action == Ack {
		h.render(w, http.StatusOK, view{Title: "Acknowledged", Message: "No more reminders of the " + string(e.Rule) + " episode on " + label + " until it escalates."})
		return
	}
	h.render(w, http.StatusOK, view{Title: "Snoozed", Message: "No notifications of " + string(e.Rule) + " on " + label + " until",
		Until: until.UTC().Format(time.RFC3339), After: "; alerts are still recorded."})
}

// The kinds of the rows that record what people did, in the lake's alerts table.
const (
	KindAck      alert.Kind = "ACK"
	KindSnooze   alert.Kind = "SNOOZE"
	KindUnsnooze alert.Kind = "UNSNOOZE" // a snooze ended early
)

// Record is the row of the lake's alerts table that records an action: who (user_id), what
// (kind ACK or SNOOZE, device, rule, severity of the episode), when (alert_time), through which
// channel (via "link"), the episode (window_start_ms) and, for a snooze, until when
// (window_end_ms).
func Record(action Action, device string, e alarm.Episode, at, until time.Time) alert.Alert {
	a := alert.Alert{Kind: KindAck, AlertTime: at.UTC(), UserID: e.User, DeviceID: device, Rule: e.Rule, Severity: e.Severity,
		Via: "link", WindowStartMs: e.Since.UnixMilli(), WindowEndMs: at.UnixMilli()}
	if action == Snooze {
		a.Kind, a.WindowEndMs = KindSnooze, until.UnixMilli()
	}
	a.AlertID = alert.ID(&a)
	return a
}
