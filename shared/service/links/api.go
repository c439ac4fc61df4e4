package links

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// States lists every device's alarm state (the file store of `iotwatch run`).
type States interface {
	States() map[string]evaluator.State
}

// Request is what the control API takes: who, which device, which rule ("" for every rule of
// a snooze), and until when (a snooze).
type Request struct {
	// Alert, for an acknowledgement, names the episode by the id of one of its alerts (its OPEN,
	// or its latest OPEN, ESCALATE or REMIND) instead of user, device and rule.
	Alert  string    `json:"alert,omitempty"`
	User   string    `json:"user"`
	Device string    `json:"device"`
	Rule   string    `json:"rule,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// Episode is an open episode as the control API lists it.
type Episode struct {
	Device       string     `json:"device"`
	User         string     `json:"user"`
	Rule         alert.Rule `json:"rule"`
	Severity     string     `json:"severity"`
	Since        time.Time  `json:"since"`
	LastNotice   time.Time  `json:"last_notice"`
	Acked        bool       `json:"acknowledged"`
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
}

// API is `iotwatch alerts …` against a running `iotwatch run`: POST /api/ack, /api/snooze,
// /api/unsnooze (a JSON Request), GET /api/open[?user=U&device=D]. It has no authentication:
// serve it on a loopback address only (the run does), where only the machine's own users reach it.
type API struct {
	store    evaluator.Store
	states   States
	recorder Recorder
	now      func() time.Time
}

// NewAPI returns the control API over the run's store.
func NewAPI(store evaluator.Store, states States, recorder Recorder, now func() time.Time) *API {
	return &API{store: store, states: states, recorder: recorder, now: now}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// local reports whether a request comes from a program on this machine, not from a web page it
// shows: a loopback Host (a page rebinding its own name to 127.0.0.1 sends its name), no Origin
// and no cross-site fetch metadata (browsers send them; the CLI does not), and, for a POST, a
// JSON body (a page cannot send one without a preflight the API never answers).
func local(r *http.Request) bool {
	if !LoopbackHost(r.Host) {
		return false
	}
	if r.Header.Get("Origin") != "" || (r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none") {
		return false
	}
	if r.Method == http.MethodPost {
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		return strings.TrimSpace(ct) == "application/json"
	}
	return true
}

// LoopbackHost says whether a request's Host names this machine (localhost or a loopback
// address): a page of another site that rebinds its own name to 127.0.0.1 still sends its name.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !local(r) {
		fail(w, http.StatusForbidden, "the control API answers programs on this machine only (iotwatch alerts --server)")
		return
	}
	if r.URL.Path == "/api/open" && r.Method == http.MethodGet {
		a.open(w, r)
		return
	}
	if r.URL.Path == "/api/rules" && r.Method == http.MethodGet {
		a.rules(w, r)
		return
	}
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST a JSON request")
		return
	}
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "want a JSON {\"user\":…, \"device\":…, \"rule\":…}")
		return
	}
	changed, status, err := a.Do(r.Context(), strings.TrimPrefix(r.URL.Path, "/api/"), req, "cli")
	if err != nil {
		fail(w, status, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"changed": changed})
}

// Do carries out one action ("ack", "snooze", "unsnooze") of a person reached through via (the
// channel the lake's row records: "cli", "dashboard"), and says whether the state changed. Its
// error comes with the HTTP status that fits it.
func (a *API) Do(ctx context.Context, action string, req Request, via string) (bool, int, error) {
	if req.Alert != "" && action == "ack" {
		if !a.findAlert(&req) {
			return false, http.StatusNotFound, fmt.Errorf("no open episode has an alert %s (its OPEN or its latest alert)", req.Alert)
		}
	}
	if req.User == "" || req.Device == "" {
		return false, http.StatusBadRequest, errors.New("want a JSON {\"user\":…, \"device\":…, \"rule\":…}")
	}
	now := a.now()
	var rule alarm.Rule
	if req.Rule != "" {
		var err error
		if rule, err = alarm.ParseRule(req.Rule); err != nil {
			return false, http.StatusBadRequest, err
		}
	}
	var do func(*alarm.DeviceState) (bool, error)
	kind := KindAck
	switch action {
	case "ack":
		if req.Rule == "" {
			return false, http.StatusBadRequest, errors.New("acknowledging needs a rule")
		}
		do = func(st *alarm.DeviceState) (bool, error) { return st.Ack(rule, req.User), nil }
	case "snooze":
		if !req.Until.After(now) {
			return false, http.StatusBadRequest, fmt.Errorf("the snooze would end at %s, which has passed", req.Until.UTC().Format(time.RFC3339))
		}
		if d, err := a.store.LoadDevice(ctx, req.Device); err != nil || !d.Watched() {
			return false, http.StatusNotFound, fmt.Errorf("device %s has no thresholds or rules: nothing to snooze", req.Device)
		}
		kind = KindSnooze
		do = func(st *alarm.DeviceState) (bool, error) {
			st.Snooze(req.User, alert.Rule(req.Rule), req.Until)
			return true, nil
		}
	case "unsnooze":
		kind = KindUnsnooze
		do = func(st *alarm.DeviceState) (bool, error) { return st.Unsnooze(req.User, alert.Rule(req.Rule)), nil }
	default:
		return false, http.StatusNotFound, errors.New("no such action")
	}
	var ep *alarm.Episode
	act := func(st *alarm.DeviceState) (bool, error) {
		ep = EpisodeOf(st, req.User, alert.Rule(req.Rule))
		return do(st)
	}
	changed, err := evaluator.Act(ctx, a.store, req.Device, act)
	if err != nil {
		return false, http.StatusServiceUnavailable, err
	}
	if changed && kind != "" && a.recorder != nil {
		// The state changed: a row that cannot be written is logged by the recorder's writer.
		_ = a.recorder.Record(ctx, Row(kind, req.User, req.Device, alert.Rule(req.Rule), ep, now, req.Until, via))
	}
	return changed, http.StatusOK, nil
}

// findAlert fills a request's user, device and rule from the open episode its alert id names.
func (a *API) findAlert(req *Request) bool {
	for id, st := range a.states.States() {
		if req.Device != "" && id != req.Device {
			continue
		}
		if rule, user, ok := st.Alarm.FindAlert(req.Alert); ok {
			req.User, req.Device, req.Rule = user, id, string(rule)
			return true
		}
	}
	return false
}

// Explained is GET /api/rules?device=ID (`iotwatch rules explain --server`): the device as the
// store knows it and its rules in force now, each with the rows it won over.
type Explained struct {
	Device device.Device  `json:"device"`
	Rules  []rule.InForce `json:"rules"`
}

func (a *API) rules(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("device")
	if !reading.ValidDeviceID(id) {
		fail(w, http.StatusBadRequest, "device %q is not a device id", id)
		return
	}
	d, err := a.store.LoadDevice(r.Context(), id)
	if err != nil {
		fail(w, http.StatusInternalServerError, "reading device %s: %v", id, err)
		return
	}
	writeJSON(w, http.StatusOK, Explained{Device: d.Info, Rules: d.InForce()})
}

func (a *API) open(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, OpenEpisodes(a.states.States(), r.URL.Query().Get("user"), r.URL.Query().Get("device"), a.now()))
}

// OpenEpisodes lists the open episodes of the devices' states (of one user and one device when
// given), by device, user and rule, with their state at now.
func OpenEpisodes(states map[string]evaluator.State, user, device string, now time.Time) []Episode {
	out := []Episode{}
	for id, st := range states {
		if device != "" && id != device {
			continue
		}
		for _, e := range st.Alarm.Episodes() {
			if user != "" && e.User != user {
				continue
			}
			ep := Episode{Device: id, User: e.User, Rule: e.Rule, Severity: string(e.Severity), Since: e.Since, LastNotice: e.LastNotice, Acked: e.Acked}
			if until, ok := st.Alarm.SnoozedUntil(e.User, e.Rule, now); ok {
				ep.SnoozedUntil = &until
			}
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].User < out[j].User || out[i].User == out[j].User && out[i].Rule < out[j].Rule
	})
	return out
}

// EpisodeOf is the user's open episode of rule on the device, if there is one.
func EpisodeOf(st *alarm.DeviceState, user string, rule alert.Rule) *alarm.Episode {
	for _, e := range st.Episodes() {
		if e.User == user && e.Rule == rule {
			return &e
		}
	}
	return nil
}

// Row is the row of the lake's alerts table that records an action taken through a channel
// other than a link (via "cli"): who, what (kind, device, rule: "" for a snooze of every rule),
// when, the episode (its severity and OPEN window start, when one was open) and, for a snooze,
// until when (window_end_ms).
func Row(kind alert.Kind, user, device string, rule alert.Rule, ep *alarm.Episode, at, until time.Time, via string) alert.Alert {
	row := alert.Alert{Kind: kind, AlertTime: at.UTC(), UserID: user, DeviceID: device, Rule: rule, Via: via, WindowEndMs: at.UnixMilli()}
	if ep != nil {
		row.Severity, row.WindowStartMs = ep.Severity, ep.Since.UnixMilli()
	}
	if kind == KindSnooze {
		row.WindowEndMs = until.UnixMilli()
	}
	row.AlertID = alert.ID(&row)
	return row
}
