package links_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

type capture struct{ ns []evaluator.Notice }

func (p *capture) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.ns = append(p.ns, ns...)
	return make([]error, len(ns))
}

type recorder struct{ rows []alert.Alert }

func (r *recorder) Record(_ context.Context, a alert.Alert) error {
	r.rows = append(r.rows, a)
	return nil
}

type noQuarantine struct{}

func (noQuarantine) Put(context.Context, string, []lake.Rejected) error { return nil }

// env is an evaluation with links, and the links' handler over the same store.
type env struct {
	store *memstore.Store
	svc   *evaluator.Service
	pub   *capture
	rec   *recorder
	srv   *httptest.Server
	now   time.Time
}

func newEnv(t *testing.T) *env {
	e := &env{pub: &capture{}, rec: &recorder{}, now: t0}
	cfg := threshold.Config{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26), RemindSeconds: 300}
	e.store = memstore.New([]threshold.Config{cfg}, nil)
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	signer, err := links.NewSigner([]byte(strings.Repeat("s", 32)), e.srv.URL)
	require.NoError(t, err)
	e.svc = evaluator.New(e.store, e.pub, noQuarantine{}, evaluator.Config{Linker: signer, Now: func() time.Time { return e.now }}, nil, nil)
	mux.Handle("/", links.NewHandler(signer, e.store, e.rec, func() time.Time { return e.now }, nil))
	return e
}

func (e *env) reading(t *testing.T, minute int, temp float64) {
	data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g}`, t0.Add(time.Duration(minute)*time.Minute).Format(time.RFC3339), temp)
	out, err := e.svc.Evaluate(context.Background(), []evaluator.Message{{ID: fmt.Sprint(minute), Data: []byte(data), TopicDevice: "room-1"}})
	require.NoError(t, err)
	require.Empty(t, out.Retry)
}

func do(t *testing.T, method, url string) (int, string) {
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func (e *env) acked(t *testing.T) bool {
	st, err := e.store.LoadStates(context.Background(), []string{"room-1"})
	require.NoError(t, err)
	alarmState := st["room-1"].Alarm
	eps := alarmState.Episodes()
	return len(eps) == 1 && eps[0].Acked
}

// TestAckLink: the OPEN carries links; a GET shows a confirmation and changes nothing; the POST
// acknowledges (no REMIND follows) and records an ACK row; the same link again, an altered one, an
// expired one and one for an episode that is over each get a page that says so, and change nothing.
func TestAckLink(t *testing.T) {
	e := newEnv(t)
	e.reading(t, 0, 25)
	require.Len(t, e.pub.ns, 1)
	open := e.pub.ns[0]
	require.NotEmpty(t, open.AckLink)
	assert.True(t, strings.HasPrefix(open.AckLink, e.srv.URL+"/a/room-1/"), open.AckLink)
	assert.True(t, strings.HasPrefix(open.SnoozeLink, e.srv.URL+"/z/room-1/"), open.SnoozeLink)

	code, body := do(t, http.MethodGet, open.AckLink)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "You are about to acknowledge alice&#39;s WARNING temperature_high episode on room-1")
	assert.Contains(t, body, `<form method="post">`)
	assert.False(t, e.acked(t), "a GET changes nothing")

	code, body = do(t, http.MethodPost, open.AckLink)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Acknowledged")
	assert.True(t, e.acked(t))
	require.Len(t, e.rec.rows, 1)
	assert.Equal(t, links.KindAck, e.rec.rows[0].Kind)
	assert.Equal(t, "alice", e.rec.rows[0].UserID)
	assert.Equal(t, "link", e.rec.rows[0].Via)

	_, body = do(t, http.MethodPost, open.AckLink)
	assert.Contains(t, body, "Already used", "a link used twice changes nothing")
	assert.Len(t, e.rec.rows, 1)
	e.reading(t, 6, 25)
	assert.Len(t, e.pub.ns, 1, "no REMIND once acknowledged")
	e.reading(t, 7, 27) // ESCALATE: the acknowledgement is cleared, the old link still used
	require.Len(t, e.pub.ns, 2)
	_, body = do(t, http.MethodPost, open.AckLink)
	assert.Contains(t, body, "Already used", "an escalation does not make a used link work again")
	assert.False(t, e.acked(t))

	tampered := open.AckLink[:len(open.AckLink)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(open.AckLink, "a")]
	code, body = do(t, http.MethodPost, tampered)
	assert.Equal(t, http.StatusGone, code)
	assert.Contains(t, body, "Link not valid")

	snooze := open.SnoozeLink
	e.now = t0.Add(9 * 24 * time.Hour)
	code, body = do(t, http.MethodPost, snooze)
	assert.Equal(t, http.StatusGone, code)
	assert.Contains(t, body, "Link expired")
	e.now = t0.Add(10 * time.Minute)

	e.reading(t, 10, 23) // RESOLVE: the episode is over
	e.reading(t, 11, 25) // a new OPEN
	code, body = do(t, http.MethodPost, snooze)
	assert.Equal(t, http.StatusGone, code, "a link of an episode that is over")
	assert.Contains(t, body, "Link not valid")

	code, _ = do(t, http.MethodGet, e.srv.URL+"/favicon.ico")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = do(t, http.MethodPut, open.AckLink)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
}

// TestSnoozeLink: a snooze link snoozes the user's rule for an hour once; its alerts are then made
// and marked snoozed; using the link again changes nothing.
func TestSnoozeLink(t *testing.T) {
	e := newEnv(t)
	e.reading(t, 0, 25)
	link := e.pub.ns[0].SnoozeLink
	e.now = t0.Add(time.Minute)
	code, body := do(t, http.MethodPost, link)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `until <time datetime="2026-03-01T09:01:00Z">2026-03-01T09:01:00Z</time>; alerts are still recorded.`)
	_, body = do(t, http.MethodPost, link)
	assert.Contains(t, body, "Already used")
	require.Len(t, e.rec.rows, 1)
	e.now = t0.Add(3 * time.Hour) // the snooze has ended: the link still works no more
	_, body = do(t, http.MethodPost, link)
	assert.Contains(t, body, "Already used")
	require.Len(t, e.rec.rows, 1)
	e.now = t0.Add(time.Minute)
	assert.Equal(t, links.KindSnooze, e.rec.rows[0].Kind)
	assert.Equal(t, t0.Add(time.Minute+time.Hour).UnixMilli(), e.rec.rows[0].WindowEndMs, "until when")

	e.reading(t, 2, 27) // ESCALATE, snoozed
	require.Len(t, e.pub.ns, 2)
	assert.Equal(t, alert.Escalate, e.pub.ns[1].Alert.Kind)
	assert.Equal(t, alert.Snoozed, e.pub.ns[1].Alert.Suppressed)
	assert.NotEmpty(t, e.pub.ns[1].AckLink, "an ESCALATE has links, signed for the episode")
	code, _ = do(t, http.MethodGet, e.pub.ns[1].AckLink)
	assert.Equal(t, http.StatusOK, code, "the ESCALATE's link names the open episode")
}

// TestLinksOfABatch: a batch that opens, resolves and opens again gives links to the alerts of
// the episode still open only, each signed for its own episode.
func TestLinksOfABatch(t *testing.T) {
	e := newEnv(t)
	var msgs []evaluator.Message
	for i, temp := range []float64{25, 23, 25, 27} { // OPEN, RESOLVE, OPEN, ESCALATE
		data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g}`, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), temp)
		msgs = append(msgs, evaluator.Message{ID: fmt.Sprint(i), Data: []byte(data), TopicDevice: "room-1"})
	}
	_, err := e.svc.Evaluate(context.Background(), msgs)
	require.NoError(t, err)
	require.Len(t, e.pub.ns, 4)
	assert.Empty(t, e.pub.ns[0].AckLink, "the first OPEN's episode is over")
	assert.Empty(t, e.pub.ns[1].AckLink, "nothing to act on after a RESOLVE")
	require.NotEmpty(t, e.pub.ns[2].AckLink)
	assert.Equal(t, e.pub.ns[2].AckLink, e.pub.ns[3].AckLink, "the ESCALATE's link is its episode's")
	code, body := do(t, http.MethodPost, e.pub.ns[3].AckLink)
	assert.Equal(t, http.StatusOK, code, body)
	assert.True(t, e.acked(t))
}

func TestSigner(t *testing.T) {
	_, err := links.NewSigner([]byte("short"), "https://example.com")
	assert.ErrorContains(t, err, "at least 32")
	_, err = links.NewSigner([]byte(strings.Repeat("s", 32)), "example.com")
	assert.ErrorContains(t, err, "base URL")
	s, err := links.NewSigner([]byte(strings.Repeat("s", 32)), "https://example.com/")
	require.NoError(t, err)
	a := alert.Alert{Kind: alert.Resolve, AlertTime: t0, UserID: "alice", DeviceID: "room-1", Rule: alert.TemperatureHigh}
	assert.Equal(t, links.Links{}, s.For(&a, 0, t0), "nothing to act on after a RESOLVE")
	a.Kind = alert.Open
	l := s.For(&a, t0.UnixMilli(), t0)
	assert.Equal(t, l, s.For(&a, t0.UnixMilli(), t0.Add(time.Hour)), "deterministic within a day")
	assert.Len(t, l.Ack, len("https://example.com/a/room-1/")+16, "as short as the first links: an SMS keeps its link")
	assert.Equal(t, 16, links.TokenLen)
	other, err := links.NewSigner([]byte(strings.Repeat("t", 32)), "https://example.com/")
	require.NoError(t, err)
	assert.NotEqual(t, l.Ack, other.For(&a, t0.UnixMilli(), t0).Ack, "another secret, another code")
}

// readingAt evaluates a reading of room-1 at the event time at, arriving at e.now.
func (e *env) readingAt(t testing.TB, at time.Time, temp float64) {
	data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":%g}`, at.Format(time.RFC3339), temp)
	out, err := e.svc.Evaluate(context.Background(), []evaluator.Message{{ID: at.Format(time.RFC3339Nano), Data: []byte(data), TopicDevice: "room-1", Arrival: e.now}})
	require.NoError(t, err)
	require.Empty(t, out.Retry)
	require.Empty(t, out.Stats.Rejected, "the reading is taken")
}

// TestLinkDatedWhenSent: a link's week counts from when its alert was sent (the evaluation's
// clock), not from the reading's event time (DESIGN.md, "Links"): the alert of a reading that
// arrives 10 days late carries a link that works, and a device whose clock is 4 minutes fast does
// not make a link sent at 23:58 one of tomorrow (which no check would take before tomorrow).
func TestLinkDatedWhenSent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sent, read time.Time // the evaluation's clock, the reading's event time
	}{
		{"a reading 10 days old", t0, t0.Add(-10 * 24 * time.Hour)},
		{"a device 4 minutes fast before midnight", time.Date(2026, 3, 1, 23, 58, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 2, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.now = tc.sent
			e.readingAt(t, tc.read, 25)
			require.Len(t, e.pub.ns, 1)
			e.now = tc.sent.Add(time.Minute)
			code, body := do(t, http.MethodGet, e.pub.ns[0].AckLink)
			assert.Equal(t, http.StatusOK, code, body)
			assert.Contains(t, body, "You are about to acknowledge")
			code, body = do(t, http.MethodPost, e.pub.ns[0].SnoozeLink)
			assert.Equal(t, http.StatusOK, code, body)
			assert.Contains(t, body, "Snoozed")
			e.now = tc.sent.Truncate(24 * time.Hour).Add(8*24*time.Hour + time.Second) // 7 days after the day it was sent
			code, body = do(t, http.MethodGet, e.pub.ns[0].AckLink)
			assert.Equal(t, http.StatusGone, code)
			assert.Contains(t, body, "sent on "+tc.sent.Format(time.DateOnly))
		})
	}
}

// TestLinkAcrossTheDayWrap: a token carries its day modulo 256; a link sent on a day whose
// remainder is 255 works two days later (remainder 1) and says when it was sent once expired.
func TestLinkAcrossTheDayWrap(t *testing.T) {
	day := (t0.Unix()/86400/256+1)*256 - 1
	sent := time.Unix(day*86400, 0).UTC().Add(22 * time.Hour)
	e := newEnv(t)
	e.now = sent
	e.readingAt(t, sent, 25)
	require.Len(t, e.pub.ns, 1)
	e.now = sent.Add(48 * time.Hour)
	code, body := do(t, http.MethodGet, e.pub.ns[0].AckLink)
	assert.Equal(t, http.StatusOK, code, body)
	e.now = sent.Add(8 * 24 * time.Hour)
	code, body = do(t, http.MethodGet, e.pub.ns[0].AckLink)
	assert.Equal(t, http.StatusGone, code)
	assert.Contains(t, body, "sent on "+sent.Format(time.DateOnly))
}

// reads counts the handler's reads of the store.
type reads struct {
	*memstore.Store
	n int
}

func (r *reads) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	r.n++
	return r.Store.LoadDevice(ctx, id)
}

// TestForgedLinkReadsNothing: whatever can be told from the path is told before the table is
// read: a forged code, an altered one, one of another deployment, an expired link, a link of
// the first format and what is no link at all cost no read; a valid link one read.
func TestForgedLinkReadsNothing(t *testing.T) {
	e := newEnv(t)
	e.reading(t, 0, 25)
	link := e.pub.ns[0].AckLink
	path := strings.TrimPrefix(link, e.srv.URL)
	tok := path[len("/a/room-1/"):]
	other, err := links.NewSigner([]byte(strings.Repeat("t", 32)), "https://example.com")
	require.NoError(t, err)
	a := e.pub.ns[0].Alert
	foreign := strings.TrimPrefix(other.For(&a, t0.UnixMilli(), t0).Ack, "https://example.com")
	flip := func(s string, i int) string { // another base32 character at i
		b := []byte(s)
		b[i] = map[bool]byte{true: 'b', false: 'a'}[b[i] == 'a']
		return string(b)
	}
	st := &reads{Store: e.store}
	h := links.NewHandler(mustSigner(t), st, nil, func() time.Time { return e.now }, nil)
	for _, tc := range []struct {
		name, path string
		now        time.Time
		status     int
		says       string
		reads      int
	}{
		{"forged", "/a/room-1/" + strings.Repeat("a", links.TokenLen), t0, 410, "Link not valid", 0},
		{"its MAC altered", "/a/room-1/" + flip(tok, links.TokenLen-1), t0, 410, "Link not valid", 0},
		{"its day altered", "/a/room-1/" + flip(tok, 0), t0, 410, "Link not valid", 0},
		{"its episode altered", "/a/room-1/" + flip(tok, 4), t0, 410, "Link not valid", 0},
		{"another action", "/z/room-1/" + tok, t0, 410, "Link not valid", 0},
		{"another device", "/a/room-2/" + tok, t0, 410, "Link not valid", 0},
		{"another deployment's", foreign, t0, 410, "Link not valid", 0},
		{"expired", path, t0.Add(9 * 24 * time.Hour), 410, "Link expired", 0},
		{"the first format", "/a/room-1/abcdefghijklmnop", t0, 410, "sent before an update", 0},
		{"upper case", "/a/room-1/" + strings.ToUpper(tok), t0, 404, "Not a link", 0},
		{"not base32", "/a/room-1/" + strings.Repeat("1", links.TokenLen), t0, 404, "Not a link", 0},
		{"too long", path + "a", t0, 404, "Not a link", 0},
		{"valid", path, t0, 200, "You are about to acknowledge", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.n = 0
			e.now = tc.now
			method := http.MethodPost // what would act, were the link valid
			if tc.status == http.StatusOK {
				method = http.MethodGet // shows the confirmation, changes nothing
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, tc.path, nil))
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.says)
			assert.Equal(t, tc.reads, st.n, "reads of the table")
		})
	}
	assert.False(t, e.acked(t), "nothing acknowledged by what was refused")
}

func mustSigner(t testing.TB) *links.Signer {
	s, err := links.NewSigner([]byte(strings.Repeat("s", 32)), "")
	require.NoError(t, err)
	return s
}
