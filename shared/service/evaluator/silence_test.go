package evaluator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

var silentConfig = []threshold.Config{{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600, RemindSeconds: 600, Version: 1}}

// recording publishes into a list.
type recording struct {
	mu  sync.Mutex
	ids []string
	log []string
}

func (p *recording) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range ns {
		p.ids = append(p.ids, n.Alert.AlertID)
		p.log = append(p.log, n.Alert.AlertTime.Format("15:04")+" "+string(n.Alert.Kind))
	}
	return make([]error, len(ns))
}

func distinct(ids []string) int {
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	return len(seen)
}

func TestCheckSilence(t *testing.T) {
	ctx := context.Background()
	pub := &recording{}
	store := memstore.New(silentConfig, nil)
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
	_, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 20)})
	require.NoError(t, err)

	_, err = svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(9*time.Minute))
	require.NoError(t, err)
	assert.Empty(t, pub.log, "not due yet")
	_, err = svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(25*time.Minute))
	require.NoError(t, err)
	_, err = svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(25*time.Minute))
	require.NoError(t, err) // a second round at the same clock raises nothing
	_, err = svc.Evaluate(ctx, []evaluator.Message{msg("2", 29, 20)})
	require.NoError(t, err)
	assert.Equal(t, []string{"08:10 OPEN", "08:20 REMIND", "08:29 RESOLVE"}, pub.log)
}

// racingStore runs once a hook just before a SaveState: a reading is applied between the
// silence check's read and its write. loaded, when set, hears of every LoadDevice.
type racingStore struct {
	*memstore.Store
	armed  atomic.Bool
	hook   func()
	loaded chan<- string
}

func (s *racingStore) SaveState(ctx context.Context, id string, st evaluator.State) (int64, error) {
	if s.armed.CompareAndSwap(true, false) {
		s.hook() // once; its own saves go straight through
	}
	return s.Store.SaveState(ctx, id, st)
}

func (s *racingStore) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	if s.loaded != nil {
		s.loaded <- id
	}
	return s.Store.LoadDevice(ctx, id)
}

// TestSilenceAndReadingAtOnce: the check opens a silence while a reading of the device arrives,
// each in its own process (the silence and evaluate functions on AWS: two services over one
// store); conditional writes decide, and the contract's alerts (OPEN at last + silent_seconds,
// RESOLVE at the reading) are all published, whichever write wins.
func TestSilenceAndReadingAtOnce(t *testing.T) {
	for _, readingFirst := range []bool{true, false} {
		ctx := context.Background()
		pub := &recording{}
		store := &racingStore{Store: memstore.New(silentConfig, nil)}
		evaluate := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
		silence := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
		_, err := evaluate.Evaluate(ctx, []evaluator.Message{msg("1", 0, 20)})
		require.NoError(t, err)
		reading := []evaluator.Message{msg("2", 11, 20)}
		store.armed.Store(true)
		if readingFirst {
			// The reading's write lands between the check's read and write: the check loses.
			store.hook = func() {
				out, err := evaluate.Evaluate(ctx, reading)
				require.NoError(t, err)
				require.Empty(t, out.Retry)
			}
			_, err = silence.CheckSilence(ctx, []string{"room-1"}, t0.Add(11*time.Minute))
			require.ErrorIs(t, err, evaluator.ErrConflict)
		} else {
			// The check's write lands between the reading's read and write: the reading loses,
			// and its retry resolves the silence.
			store.hook = func() {
				_, err := silence.CheckSilence(ctx, []string{"room-1"}, t0.Add(11*time.Minute))
				require.NoError(t, err)
			}
			out, err := evaluate.Evaluate(ctx, reading)
			require.NoError(t, err)
			require.Len(t, out.Retry, 1)
			out, err = evaluate.Evaluate(ctx, reading) // the retry
			require.NoError(t, err)
			require.Empty(t, out.Retry)
		}
		_, err = silence.CheckSilence(ctx, []string{"room-1"}, t0.Add(20*time.Minute)) // a later round: nothing left to do
		require.NoError(t, err)
		assert.Equal(t, 2, distinct(pub.ids), "reading first %v: %v", readingFirst, pub.log)
		assert.Contains(t, pub.log, "08:10 OPEN")
		assert.Contains(t, pub.log, "08:11 RESOLVE")
	}
}

// TestOneServiceNeverRepeatsAnAlertInARace is the regression test of issue 26's repeats without
// a crash (a live run stored 261 alerts of 259 ids): in one process (iotwatch run) the silence
// check and a batch of readings reach a device at once. One has read the state and is about to
// write it when the other starts; the other must wait for that write, read it and raise nothing
// twice. Unserialized, both published the OPEN, the loser's write was refused and its retry
// published its alerts again. The other is given a moment to reach the store: with the fix it
// cannot, and the moment passes.
func TestOneServiceNeverRepeatsAnAlertInARace(t *testing.T) {
	for _, readingFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("reading first %v", readingFirst), func(t *testing.T) {
			ctx := context.Background()
			pub := &recording{}
			store := &racingStore{Store: memstore.New(silentConfig, nil)}
			svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
			_, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 20)})
			require.NoError(t, err)
			reading := []evaluator.Message{msg("2", 11, 20)}
			first := func() {
				if readingFirst {
					for range 3 { // the batch and its retries, as the stream delivers them
						out, err := svc.Evaluate(ctx, reading)
						require.NoError(t, err)
						if len(out.Retry) == 0 {
							return
						}
					}
					t.Error("the batch is still retried")
					return
				}
				_, err := svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(11*time.Minute))
				if err != nil {
					require.ErrorIs(t, err, evaluator.ErrConflict) // the next round looks again
				}
			}
			second := func() {
				if readingFirst {
					_, err := svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(11*time.Minute))
					assert.NoError(t, err)
					return
				}
				out, err := svc.Evaluate(ctx, reading)
				assert.NoError(t, err)
				assert.Empty(t, out.Retry)
			}
			loaded := make(chan string, 16)
			done := make(chan struct{})
			store.hook = func() {
				store.loaded = loaded
				go func() { defer close(done); second() }()
				select {
				case <-loaded: // unserialized: the second has read the same version; let it finish
					<-done
				case <-time.After(200 * time.Millisecond):
				}
			}
			store.armed.Store(true)
			first()
			<-done
			first() // the next round of the check, or the stream's redelivery: nothing more
			_, err = svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(20*time.Minute))
			require.NoError(t, err)
			assert.Equal(t, []string{"08:10 OPEN", "08:11 RESOLVE"}, pub.log, "each alert once")
			assert.Equal(t, len(pub.ids), distinct(pub.ids), "an alert id published twice: %v", pub.log)
		})
	}
}

// TestIndexedDueFollowsAGrid: the Due a store indexes is rounded down to half the shortest
// silent_seconds: a device reporting every minute keeps it over five writes and never looks due,
// it is never later than the silence's real time, and the silence still opens at exactly
// last + silent_seconds however early the check looks at the device.
func TestIndexedDueFollowsAGrid(t *testing.T) {
	ctx := context.Background()
	pub := &recording{}
	cfg := []threshold.Config{{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600, Version: 1}}
	store := memstore.New(cfg, nil)
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
	distinct := map[time.Time]bool{}
	for m := range 30 {
		_, err := svc.Evaluate(ctx, []evaluator.Message{msg(fmt.Sprint(m), m, 20)})
		require.NoError(t, err)
		st, err := store.LoadStates(ctx, []string{"room-1"})
		require.NoError(t, err)
		due, at := st["room-1"].Due, t0.Add(time.Duration(m)*time.Minute)
		assert.False(t, due.After(at.Add(600*time.Second)), "minute %d: Due %s is after the silence's real time", m, due)
		assert.True(t, due.After(at.Add(time.Minute)), "minute %d: a device reporting every minute looks due at %s", m, due)
		assert.Zero(t, due.Unix()%300, "minute %d: Due %s is off the 300 s grid", m, due)
		distinct[due] = true
	}
	assert.LessOrEqual(t, len(distinct), 7, "30 writes, one index change every 5 of them: %v", distinct)

	// The device stops at 08:29; the check looks from 08:30 on, every minute.
	for m := 30; m <= 45; m++ {
		_, err := svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(time.Duration(m)*time.Minute))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"08:39 OPEN"}, pub.log, "the silence opens once, at last + silent_seconds")
}

// capture keeps every published notice.
type capture struct {
	mu sync.Mutex
	ns []evaluator.Notice
}

func (p *capture) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ns = append(p.ns, ns...)
	return make([]error, len(ns))
}

// TestSnoozedAlertsArePublishedSuppressed: alice's snooze, held in the device's state, marks her
// alerts until it ends as suppressed (they are still published, for the lake, with the same ids);
// bob's alerts and hers after it ended go out as usual.
func TestSnoozedAlertsArePublishedSuppressed(t *testing.T) {
	ctx := context.Background()
	cfgs := append(slices.Clone(aliceConfig), threshold.Config{UserID: "bob", DeviceID: "room-1", TempWarning: threshold.Of(24)})
	run := func(snooze bool) []evaluator.Notice {
		store := memstore.New(cfgs, nil)
		if snooze {
			var st alarm.DeviceState
			st.Snooze("alice", "", t0.Add(2*time.Minute))
			_, err := store.SaveState(ctx, "room-1", evaluator.State{Alarm: st})
			require.NoError(t, err)
		}
		pub := &capture{}
		svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
		for i, m := range []evaluator.Message{msg("1", 0, 25), msg("2", 3, 27)} {
			out, err := svc.Evaluate(ctx, []evaluator.Message{m})
			require.NoError(t, err)
			require.Empty(t, out.Retry, "batch %d", i)
		}
		return pub.ns
	}
	plain, snoozed := run(false), run(true)
	require.Len(t, snoozed, len(plain))
	var got []string
	for i := range snoozed {
		assert.Equal(t, plain[i].Alert.AlertID, snoozed[i].Alert.AlertID, "a snooze changes no id")
		assert.Empty(t, plain[i].Alert.Suppressed)
		got = append(got, fmt.Sprintf("%s %s %s", snoozed[i].Alert.UserID, snoozed[i].Alert.Kind, snoozed[i].Alert.Suppressed))
	}
	assert.ElementsMatch(t, []string{"alice OPEN snoozed", "bob OPEN ", "alice ESCALATE "}, got)
}

// TestQuietHoursHoldBelowTheUsersSeverity: alice's quiet hours (22:00-07:00 in Paris) hold her
// WARNING alerts and let her VIOLATION through; bob has none. Preferences are read once, and not
// again while fresh; a batch with no alert reads none.
func TestQuietHoursHoldBelowTheUsersSeverity(t *testing.T) {
	ctx := context.Background()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	cfgs := append(slices.Clone(aliceConfig), threshold.Config{UserID: "bob", DeviceID: "room-1", TempWarning: threshold.Of(24)})
	store := memstore.New(cfgs, nil)
	pub := &capture{}
	clock := t0
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{CacheTTL: time.Minute, Users: store, Now: func() time.Time { return clock }}, nil, nil)
	at := func(minute int, temp float64) evaluator.Message {
		m := msg(fmt.Sprint(minute), minute, temp)
		return m
	}
	// msg's readings are at 08:00 UTC + minute: 09:00 in Paris (winter time).
	store.SetUsers([]user.User{{ID: "alice", Zone: paris, Quiet: user.Quiet{From: 9 * 60, To: 10 * 60}}})
	for _, m := range []evaluator.Message{at(0, 25), at(1, 25), at(2, 27)} {
		_, err := svc.Evaluate(ctx, []evaluator.Message{m})
		require.NoError(t, err)
	}
	var got []string
	for _, n := range pub.ns {
		got = append(got, fmt.Sprintf("%s %s %s %s", n.Alert.UserID, n.Alert.Kind, n.Alert.Severity, n.Alert.Suppressed))
	}
	assert.Equal(t, []string{"alice OPEN WARNING quiet_hours", "bob OPEN WARNING ", "alice ESCALATE VIOLATION "}, got)
	assert.Equal(t, 1, store.UserLoads, "read once, for the first batch with alerts; the batch without alerts read nothing; then cached")
	clock = clock.Add(2 * time.Minute) // the cache has expired
	_, err = svc.Evaluate(ctx, []evaluator.Message{at(3, 23)})
	require.NoError(t, err)
	assert.Equal(t, 2, store.UserLoads)
	assert.Equal(t, alert.Suppression(""), pub.ns[len(pub.ns)-1].Alert.Suppressed, "the RESOLVE of a VIOLATION episode goes out in quiet hours")
}

// TestDigestAtTheEndOfQuietHours: what quiet hours held is kept, and one digest lists it when
// they end (the silence check finds it due), then it is forgotten; a second check sends nothing.
func TestDigestAtTheEndOfQuietHours(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(aliceConfig, nil)
	store.SetUsers([]user.User{{ID: "alice", Zone: time.UTC, Quiet: user.Quiet{From: 7 * 60, To: 9 * 60}}}) // 07:00-09:00 UTC
	pub := &capture{}
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{Users: store, Held: store}, nil, nil)
	for _, m := range []evaluator.Message{msg("1", 0, 25), msg("2", 10, 23), msg("3", 20, 25)} { // 08:00 OPEN, 08:10 RESOLVE, 08:20 OPEN
		out, err := svc.Evaluate(ctx, []evaluator.Message{m})
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	require.Len(t, pub.ns, 3)
	for _, n := range pub.ns {
		assert.Equal(t, alert.QuietHours, n.Alert.Suppressed)
	}
	assert.Empty(t, store.DigestsDue(t0.Add(59*time.Minute)), "not before 09:00")
	due := store.DigestsDue(t0.Add(time.Hour))
	require.Equal(t, []string{evaluator.HeldPrefix + "alice"}, due)

	_, err := svc.CheckSilence(ctx, due, t0.Add(time.Hour+30*time.Second))
	require.NoError(t, err)
	require.Len(t, pub.ns, 4)
	d := pub.ns[3]
	assert.Equal(t, alert.Digest, d.Alert.Kind)
	assert.Equal(t, t0.Add(time.Hour), d.Alert.AlertTime, "at the end of the quiet hours")
	assert.Empty(t, d.Alert.Suppressed, "the digest is sent")
	assert.Len(t, d.Held, 3)
	assert.Equal(t, alert.Num(3), d.Alert.ObservedValue)
	assert.Empty(t, store.DigestsDue(t0.Add(2*time.Hour)), "released")
	_, err = svc.CheckSilence(ctx, due, t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Len(t, pub.ns, 4, "nothing more")
}

// failingUsers fails every read of preferences.
type failingUsers struct{}

func (failingUsers) LoadUsers(context.Context, []string) (map[string]user.User, error) {
	return nil, errors.New("throttled")
}

// TestDigestEdges: an alert held in the second of two 01:15s (New York, the autumn change) goes
// out in one digest at the second 01:30, not in a loop of empty ones; when the preferences cannot
// be read, no digest goes out (the next check tries again) rather than one an alert.
func TestDigestEdges(t *testing.T) {
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	store := memstore.New(nil, nil)
	store.SetUsers([]user.User{{ID: "dan", Zone: ny, Quiet: user.Quiet{From: 22 * 60, To: 90}}})
	pub := &capture{}
	held := alert.Alert{AlertID: "h1", Kind: alert.Open, UserID: "dan", DeviceID: "room-1", Rule: alert.TemperatureHigh, Severity: alert.Warning,
		AlertTime: time.Date(2026, 11, 1, 6, 15, 0, 0, time.UTC), Suppressed: alert.QuietHours} // 01:15 EST, the second one
	require.NoError(t, store.Hold(ctx, []alert.Alert{held, {AlertID: "h2", Kind: alert.Remind, UserID: "dan", DeviceID: "room-1",
		Rule: alert.TemperatureHigh, Severity: alert.Warning, AlertTime: held.AlertTime.Add(5 * time.Minute), Suppressed: alert.QuietHours}},
		map[string]time.Time{"dan": time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)})) // a marker due too early
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{Users: store, Held: store}, nil, nil)
	_, err = svc.CheckSilence(ctx, []string{evaluator.HeldPrefix + "dan"}, time.Date(2026, 11, 1, 6, 20, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Empty(t, pub.ns, "not due before the second 01:30")
	assert.Empty(t, store.DigestsDue(time.Date(2026, 11, 1, 6, 29, 0, 0, time.UTC)), "the early marker moved to when it is due")
	_, err = svc.CheckSilence(ctx, store.DigestsDue(time.Date(2026, 11, 1, 6, 31, 0, 0, time.UTC)), time.Date(2026, 11, 1, 6, 31, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, pub.ns, 1, "one digest")
	assert.Equal(t, time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), pub.ns[0].Alert.AlertTime)
	assert.Len(t, pub.ns[0].Held, 2)

	require.NoError(t, store.Hold(ctx, []alert.Alert{held}, map[string]time.Time{"dan": held.AlertTime}))
	broken := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{Users: failingUsers{}, Held: store}, nil, nil)
	_, err = broken.CheckSilence(ctx, []string{evaluator.HeldPrefix + "dan"}, time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC))
	require.Error(t, err, "the preferences cannot be read: tried again later")
	assert.Len(t, pub.ns, 1, "no digest of one alert at once")
}

// datedLinker records when the links it makes are sent, by kind.
type datedLinker struct {
	mu   sync.Mutex
	sent []string
}

func (l *datedLinker) LinksFor(a *alert.Alert, _ int64, sent time.Time) (string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, string(a.Kind)+" "+sent.UTC().Format(time.RFC3339))
	return "ack", "snooze"
}

// TestSilenceLinksDatedWhenSent: the silence check's alerts (a silence OPEN, a REMIND) get links
// dated by the service's clock, when they are sent, not by the check's clock (a watermark on one
// machine can be days behind) nor the alerts' own times (DESIGN.md, "Links").
func TestSilenceLinksDatedWhenSent(t *testing.T) {
	ctx := context.Background()
	wall := t0.Add(72 * time.Hour)
	linker := &datedLinker{}
	svc := evaluator.New(memstore.New(silentConfig, nil), &recording{}, failingQuarantine{},
		evaluator.Config{Linker: linker, Now: func() time.Time { return wall }}, nil, nil)
	_, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 20)})
	require.NoError(t, err)
	_, err = svc.CheckSilence(ctx, []string{"room-1"}, t0.Add(25*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []string{"OPEN 2026-03-04T08:00:00Z", "REMIND 2026-03-04T08:00:00Z"}, linker.sent)
}

// TestNoticesCarryTheirUsersUnits: each notice carries its user's preferences, and its texts are
// in their units and on their clock (alice: imperial, Chicago; bob: none, metric and UTC),
// digest included; the alert itself stays in SI units and UTC.
func TestNoticesCarryTheirUsersUnits(t *testing.T) {
	ctx := context.Background()
	chicago, err := time.LoadLocation("America/Chicago")
	require.NoError(t, err)
	cfgs := append(slices.Clone(aliceConfig), threshold.Config{UserID: "bob", DeviceID: "room-1", TempWarning: threshold.Of(24)})
	store := memstore.New(cfgs, nil)
	// t0 is 08:00 UTC, 02:00 CST: in alice's quiet hours, 01:00-03:00 in Chicago.
	store.SetUsers([]user.User{{ID: "alice", Zone: chicago, ZoneName: "America/Chicago", Quiet: user.Quiet{From: 60, To: 180}, Units: alert.ImperialUnits}})
	pub := &capture{}
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{Users: store, Held: store}, nil, nil)
	_, err = svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 25)})
	require.NoError(t, err)
	require.Len(t, pub.ns, 2)
	byUser := map[string]evaluator.Notice{}
	for _, n := range pub.ns {
		byUser[n.Alert.UserID] = n
	}
	alice, bob := byUser["alice"], byUser["bob"]
	require.NotNil(t, alice.User)
	assert.Nil(t, bob.User, "bob has no preferences")
	assert.Contains(t, alice.Presentation().SMS(&alice.Alert, alice.Device), "77°F > 75.2°F Mar 1 02:00 CST")
	assert.Contains(t, bob.Presentation().SMS(&bob.Alert, bob.Device), "25°C > 24°C Mar 1 08:00 UTC")
	b, err := json.Marshal(alice.Alert)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"alert_time":"2026-03-01T08:00:00Z"`)
	assert.Contains(t, string(b), `"observed_value":25,"threshold_value":24`)

	due := store.DigestsDue(t0.Add(time.Hour))
	require.Equal(t, []string{evaluator.HeldPrefix + "alice"}, due, "due at 03:00 CST")
	_, err = svc.CheckSilence(ctx, due, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, pub.ns, 3)
	d := pub.ns[2]
	require.Equal(t, alert.Digest, d.Alert.Kind)
	_, email, _ := d.Presentation().DigestTexts(&d.Alert, d.Held, func(id string) string { return id })
	assert.Contains(t, email, "from Mar 1 02:00 CST to Mar 1 03:00 CST (America/Chicago)")
	assert.Contains(t, email, "- Mar 1 02:00 CST WARNING OPEN temperature high on room-1: 77°F > 75.2°F")
}
