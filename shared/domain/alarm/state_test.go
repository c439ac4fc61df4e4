package alarm

import (
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

var t0 = time.Date(2015, 2, 2, 14, 0, 0, 0, time.UTC)

// in is one reading of a scenario: seconds after t0 and the metrics it carries.
type in struct {
	at    int
	temp  float64
	light float64 // with occ; both negative = absent
	occ   float64
	msg   string
	noTmp bool
}

func tmp(at int, v float64) in          { return in{at: at, temp: v, light: -1, occ: -1} }
func lit(at int, light, occ float64) in { return in{at: at, noTmp: true, light: light, occ: occ} }

func (x in) reading() reading.Reading {
	r := reading.Reading{DeviceID: "room-1", EventTime: t0.Add(time.Duration(x.at) * time.Second), MsgID: x.msg}
	if !x.noTmp {
		r.Set(reading.Temperature, x.temp)
	}
	if x.light >= 0 {
		r.Set(reading.Light, x.light)
	}
	if x.occ >= 0 {
		r.Set(reading.Occupancy, x.occ)
	}
	return r
}

// short renders an alert as "KIND SEVERITY rule @at from start" in seconds after t0.
func short(a alert.Alert) string {
	at := int(a.AlertTime.Sub(t0) / time.Second)
	start := int((a.WindowStartMs - t0.UnixMilli()) / 1000)
	return fmt.Sprintf("%s %s %s @%d from %d obs=%s thr=%s", a.Kind, a.Severity, a.Rule, at, start, a.ObservedValue, a.ThresholdValue)
}

func run(cfgs []threshold.Config, st *DeviceState, ins []in) ([]string, []Outcome) {
	var got []string
	var outs []Outcome
	d := NewDevice(st, cfgs)
	for _, x := range ins {
		r := x.reading()
		outs = append(outs, d.Apply(&r, func(a alert.Alert) { got = append(got, short(a)) }))
	}
	d.Finish()
	return got, outs
}

func high(warn, viol float64, sustain int64) threshold.Config {
	return threshold.Config{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(warn), TempViolation: threshold.Of(viol), SustainSeconds: sustain}
}

func TestRules(t *testing.T) {
	low := threshold.Config{UserID: "alice", DeviceID: "room-1", TempLowWarning: threshold.Of(18), TempLowViolation: threshold.Of(16)}
	light := threshold.Config{UserID: "alice", DeviceID: "room-1", LightNoOccupancy: threshold.Of(300)}
	warnOnly := threshold.Config{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24)}
	violOnly := threshold.Config{UserID: "alice", DeviceID: "room-1", TempViolation: threshold.Of(26)}
	tests := []struct {
		name string
		cfg  threshold.Config
		ins  []in
		want []string
	}{
		{"below warning: nothing", high(24, 26, 0), []in{tmp(0, 23), tmp(60, 23.9)}, nil},
		{"exactly at warning is OK (strictly greater)", high(24, 26, 0), []in{tmp(0, 24), tmp(60, 24)}, nil},
		{"just above warning opens at once with sustain 0", high(24, 26, 0), []in{tmp(0, 24.01)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=24.01 thr=24"}},
		{"exactly at violation is WARNING", high(24, 26, 0), []in{tmp(0, 26)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=26 thr=24"}},
		{"straight to violation opens at VIOLATION", high(24, 26, 0), []in{tmp(0, 27)},
			[]string{"OPEN VIOLATION temperature_high @0 from 0 obs=27 thr=26"}},
		{"no alert while open at the same level", high(24, 26, 0), []in{tmp(0, 25), tmp(60, 25), tmp(120, 25.5)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}},
		{"escalate from warning to violation", high(24, 26, 0), []in{tmp(0, 25), tmp(60, 27)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24", "ESCALATE VIOLATION temperature_high @60 from 60 obs=27 thr=26"}},
		{"no de-escalation alert; resolve carries the episode severity and OPEN window start", high(24, 26, 0),
			[]in{tmp(0, 25), tmp(60, 27), tmp(120, 25), tmp(180, 23)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24", "ESCALATE VIOLATION temperature_high @60 from 60 obs=27 thr=26",
				"RESOLVE VIOLATION temperature_high @180 from 0 obs=23 thr=26"}},
		{"resolve then reopen", high(24, 26, 0), []in{tmp(0, 25), tmp(60, 20), tmp(120, 25)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24", "RESOLVE WARNING temperature_high @60 from 0 obs=20 thr=24",
				"OPEN WARNING temperature_high @120 from 120 obs=25 thr=24"}},
		{"sustain: due only once the run lasted sustain_seconds", high(24, 26, 300),
			[]in{tmp(0, 25), tmp(60, 25), tmp(240, 25), tmp(299, 25), tmp(300, 25), tmp(360, 25)},
			[]string{"OPEN WARNING temperature_high @300 from 0 obs=25 thr=24"}},
		{"sustain: a dip below ends the run", high(24, 26, 120),
			[]in{tmp(0, 25), tmp(60, 23), tmp(120, 25), tmp(180, 25), tmp(240, 25)},
			[]string{"OPEN WARNING temperature_high @240 from 120 obs=25 thr=24"}},
		{"sustain: a dip never opened, so no resolve", high(24, 26, 120), []in{tmp(0, 25), tmp(60, 23)}, nil},
		{"sustain: violation run counted separately, escalates later", high(24, 26, 120),
			[]in{tmp(0, 27), tmp(60, 25), tmp(120, 27), tmp(180, 27), tmp(240, 27)},
			[]string{"OPEN WARNING temperature_high @120 from 0 obs=27 thr=24", "ESCALATE VIOLATION temperature_high @240 from 120 obs=27 thr=26"}},
		{"sustain: both due at once opens at the highest", high(24, 26, 60), []in{tmp(0, 27), tmp(60, 27)},
			[]string{"OPEN VIOLATION temperature_high @60 from 0 obs=27 thr=26"}},
		{"gap of exactly 300 s keeps the run", high(24, 26, 300), []in{tmp(0, 25), tmp(300, 25)},
			[]string{"OPEN WARNING temperature_high @300 from 0 obs=25 thr=24"}},
		{"gap over 300 s restarts the run at the new reading", high(24, 26, 300), []in{tmp(0, 25), tmp(301, 25), tmp(500, 25), tmp(601, 25)},
			[]string{"OPEN WARNING temperature_high @601 from 301 obs=25 thr=24"}},
		{"gap while open: stays open, no new alert", high(24, 26, 0), []in{tmp(0, 25), tmp(1000, 25)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}},
		{"gap while open then violation: escalate from the new run", high(24, 26, 0), []in{tmp(0, 25), tmp(1000, 27)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24", "ESCALATE VIOLATION temperature_high @1000 from 1000 obs=27 thr=26"}},
		{"readings without the metric do not touch the rule (nor the gap)", high(24, 26, 300),
			[]in{tmp(0, 25), lit(200, 10, 1), tmp(300, 25)},
			[]string{"OPEN WARNING temperature_high @300 from 0 obs=25 thr=24"}},
		{"only a warning threshold", warnOnly, []in{tmp(0, 30), tmp(60, 10)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=30 thr=24", "RESOLVE WARNING temperature_high @60 from 0 obs=10 thr=24"}},
		{"only a violation threshold", violOnly, []in{tmp(0, 25), tmp(60, 27)},
			[]string{"OPEN VIOLATION temperature_high @60 from 60 obs=27 thr=26"}},
		{"low: warning then violation, exactly at thresholds is not below", low,
			[]in{tmp(0, 18), tmp(60, 17.9), tmp(120, 16), tmp(180, 15.9), tmp(240, 19)},
			[]string{"OPEN WARNING temperature_low @60 from 60 obs=17.9 thr=18", "ESCALATE VIOLATION temperature_low @180 from 180 obs=15.9 thr=16",
				"RESOLVE VIOLATION temperature_low @240 from 60 obs=19 thr=16"}},
		{"light with nobody there", light, []in{lit(0, 301, 0), lit(60, 500, 0), lit(120, 500, 1)},
			[]string{"OPEN WARNING light_no_occupancy @0 from 0 obs=301 thr=300", "RESOLVE WARNING light_no_occupancy @120 from 0 obs=500 thr=300"}},
		{"light exactly at threshold is OK", light, []in{lit(0, 300, 0)}, nil},
		{"light needs occupancy present", light, []in{{at: 0, temp: 20, light: 900, occ: -1}}, nil},
		{"no thresholds set: no level, nothing", threshold.Config{UserID: "alice", DeviceID: "room-1"}, []in{tmp(0, 100)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run([]threshold.Config{tc.cfg}, &DeviceState{}, tc.ins)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLateAndDuplicate(t *testing.T) {
	tests := []struct {
		name     string
		ins      []in
		want     []string
		outcomes []Outcome
	}{
		{"late reading is not applied", []in{tmp(0, 20), tmp(120, 20), tmp(60, 30)}, nil, []Outcome{Applied, Applied, Late}},
		{"same event_time as the last is late (not later)", []in{tmp(0, 20), {at: 0, temp: 30, light: -1, occ: -1, msg: "x"}}, nil, []Outcome{Applied, Late}},
		{"duplicate by time identity", []in{tmp(0, 25), tmp(0, 25)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}, []Outcome{Applied, Duplicate}},
		{"duplicate by msg_id even with a later time", []in{{at: 0, temp: 25, light: -1, occ: -1, msg: "a"}, {at: 60, temp: 20, light: -1, occ: -1, msg: "a"}},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}, []Outcome{Applied, Duplicate}},
		{"late reading does not resolve", []in{tmp(0, 25), tmp(120, 25), tmp(60, 20)},
			[]string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}, []Outcome{Applied, Applied, Late}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, outs := run([]threshold.Config{high(24, 26, 0)}, &DeviceState{}, tc.ins)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if fmt.Sprint(outs) != fmt.Sprint(tc.outcomes) {
				t.Errorf("outcomes = %v; want %v", outs, tc.outcomes)
			}
		})
	}
}

// TestStateCarriesAcrossBatches splits one scenario into batches (a fresh Device per batch, as the
// handler does) and checks the alerts equal those of one pass, and that a replay raises nothing.
func TestStateCarriesAcrossBatches(t *testing.T) {
	cfg := []threshold.Config{high(24, 26, 120)}
	ins := []in{tmp(0, 25), tmp(60, 25), tmp(120, 27), tmp(180, 27), tmp(240, 27), tmp(300, 27), tmp(360, 20)}
	want, _ := run(cfg, &DeviceState{}, ins)
	if len(want) != 3 {
		t.Fatalf("scenario raised %d alerts, want 3: %v", len(want), want)
	}
	for split := 1; split < len(ins); split++ {
		st := &DeviceState{}
		a, _ := run(cfg, st, ins[:split])
		b, _ := run(cfg, st, ins[split:])
		if got := append(a, b...); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("split at %d: %v; want %v", split, got, want)
		}
		replay, outs := run(cfg, st, ins)
		if len(replay) != 0 {
			t.Errorf("split at %d: replay raised %v", split, replay)
		}
		for i, o := range outs {
			if o == Applied {
				t.Errorf("split at %d: replayed reading %d applied", split, i)
			}
		}
	}
}

func TestUsersAreIndependent(t *testing.T) {
	alice := high(24, 26, 0)
	bob := high(25, 30, 0)
	bob.UserID = "bob"
	got, _ := run([]threshold.Config{alice, bob}, &DeviceState{}, []in{tmp(0, 24.5), tmp(60, 25.5), tmp(120, 20)})
	want := []string{
		"OPEN WARNING temperature_high @0 from 0 obs=24.5 thr=24",
		"OPEN WARNING temperature_high @60 from 60 obs=25.5 thr=25",
		"RESOLVE WARNING temperature_high @120 from 0 obs=20 thr=24",
		"RESOLVE WARNING temperature_high @120 from 60 obs=20 thr=25",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestIdleStateStaysSmall(t *testing.T) {
	st := &DeviceState{}
	var ins []in
	for i := 0; i < 100; i++ {
		ins = append(ins, tmp(i*60, 20))
	}
	run([]threshold.Config{high(24, 26, 0)}, st, ins)
	if len(st.Rules) != 0 || len(st.Recent) != RecentIDs {
		t.Errorf("idle state holds %d rule entries and %d recent ids; want 0 and %d", len(st.Rules), len(st.Recent), RecentIDs)
	}
}

func TestAlertIDDeterministic(t *testing.T) {
	ins := []in{tmp(0, 25), tmp(60, 27), tmp(120, 20)}
	ids := func() []string {
		var out []string
		d := NewDevice(&DeviceState{}, []threshold.Config{high(24, 26, 0)})
		for _, x := range ins {
			r := x.reading()
			d.Apply(&r, func(a alert.Alert) { out = append(out, a.AlertID) })
		}
		return out
	}
	a, b := ids(), ids()
	if strings.Join(a, ",") != strings.Join(b, ",") || len(a) != 3 || a[0] == a[1] || a[1] == a[2] {
		t.Errorf("ids %v and %v: want three distinct ids, equal across runs", a, b)
	}
}

func TestCloneSharesNothing(t *testing.T) {
	orig := DeviceState{Last: 5, HasLast: true, Recent: []string{"m:a", "t:5"},
		Rules: map[string]*RuleState{"temperature_high:alice": {Flags: hasLast | hasWarnRun, LastAt: 5, WarnRun: 4, Open: Warning, OpenStart: 4}}}
	c := orig.Clone()
	c.Recent[0] = "m:changed"
	c.Rules["temperature_high:alice"].Open = Violation
	c.Rules["added"] = &RuleState{}
	if orig.Recent[0] != "m:a" || orig.Rules["temperature_high:alice"].Open != Warning || len(orig.Rules) != 1 {
		t.Errorf("changing a clone changed the original: %+v", orig)
	}
	if z := (DeviceState{}).Clone(); z.Rules != nil || z.Recent != nil {
		t.Errorf("Clone of the zero state = %+v; want the zero state", z)
	}
}

// TestDeletedConfig: a config deleted while its episode is open is resolved by the device's next
// applied reading (observed value: the reading's, null when it lacks the metric; threshold:
// null, the config is gone) and its state is dropped, so a config added again starts afresh.
func TestDeletedConfig(t *testing.T) {
	bob := threshold.Config{UserID: "bob", DeviceID: "room-1", LightNoOccupancy: threshold.Of(300)}
	tests := []struct {
		name    string
		before  []in // under alice's and bob's configs
		after   []in // under bob's only: alice's was deleted
		want    []string
		left    int // rule states left after
		sustain int64
	}{
		{"open episode resolved by the next reading", []in{tmp(0, 25)}, []in{tmp(60, 20), tmp(120, 30)},
			[]string{"RESOLVE WARNING temperature_high @60 from 0 obs=20 thr=none"}, 0, 0},
		{"a reading without the metric resolves it with no value", []in{tmp(0, 27)}, []in{lit(60, 100, 1)},
			[]string{"RESOLVE VIOLATION temperature_high @60 from 0 obs=none thr=none"}, 0, 0},
		{"a run not yet due is dropped without a word", []in{tmp(0, 23.5)}, []in{tmp(60, 30)}, nil, 0, 120},
		{"a late reading changes nothing", []in{tmp(60, 25)}, []in{tmp(0, 20), tmp(120, 21)},
			[]string{"RESOLVE WARNING temperature_high @120 from 60 obs=21 thr=none"}, 0, 0},
		{"the other user's episode goes on", []in{tmp(0, 25), lit(30, 500, 0)}, []in{lit(60, 500, 0), tmp(120, 20)},
			[]string{"RESOLVE WARNING temperature_high @60 from 0 obs=none thr=none"}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &DeviceState{}
			if got, _ := run([]threshold.Config{high(23, 26, tc.sustain), bob}, st, tc.before); tc.sustain > 0 && len(got) > 0 {
				t.Fatalf("the run was due before the deletion: %v", got)
			}
			d := NewDevice(st, []threshold.Config{bob})
			var got []string
			for _, x := range tc.after {
				r := x.reading()
				d.Apply(&r, func(a alert.Alert) { got = append(got, short(a)) })
			}
			if !d.Finish() {
				t.Errorf("Finish() = false; the dropped state must be written")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts %v; want %v", got, tc.want)
			}
			if len(st.Rules) != tc.left {
				t.Errorf("rule states left %v; want %d", st.Rules, tc.left)
			}
			// Added again: a new episode opens at its own reading, not at the old window.
			again, _ := run([]threshold.Config{high(23, 26, 0), bob}, st, []in{tmp(6000, 25)})
			if len(again) != 1 || !strings.HasPrefix(again[0], "OPEN WARNING temperature_high @6000 from 6000") {
				t.Errorf("after adding the config again: %v; want a new OPEN from 6000", again)
			}
		})
	}
}

// TestNoConfigNoWrite: a device nobody watches has no state worth a write.
func TestNoConfigNoWrite(t *testing.T) {
	d := NewDevice(&DeviceState{}, nil)
	r := tmp(0, 25).reading()
	if d.Apply(&r, func(alert.Alert) { t.Error("an alert without a config") }); d.Finish() {
		t.Error("Finish() = true for a device nobody watches")
	}
}

// TestHugeSustainNeverWraps: 9223372037 s is more than int64 nanoseconds hold; it once wrapped
// to a negative sustain and opened on the first breaching reading. Validation refuses it; the
// machine must not wrap even so.
func TestHugeSustainNeverWraps(t *testing.T) {
	for _, sustain := range []int64{9223372037, math.MaxInt64} {
		got, _ := run([]threshold.Config{high(24, 26, sustain)}, &DeviceState{}, []in{tmp(0, 30), tmp(60, 30), tmp(120, 30)})
		if len(got) != 0 {
			t.Errorf("sustain %d s: %v; want nothing", sustain, got)
		}
	}
}

// TestRecentIdentitiesAreDigests: the state keeps digests of the recent identities ("d:" and 11
// characters, whatever the msg_id's length); a state of the identities themselves (as states
// were written before) still finds their duplicates, and is written back as digests; the digest of
// an identity does not change from one version to the next (or a deploy would forget them).
func TestRecentIdentitiesAreDigests(t *testing.T) {
	cfg := []threshold.Config{high(24, 26, 0)}
	long := "3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b-with-a-long-tail"
	at60 := t0.Add(60 * time.Second).UnixNano()
	st := &DeviceState{Last: at60, HasLast: true, Recent: []string{"m:" + long, fmt.Sprintf("t:%d", at60)}} // written before digests
	_, outs := run(cfg, st, []in{{at: 120, temp: 20, light: -1, occ: -1, msg: long}, tmp(60, 20), {at: 180, temp: 20, light: -1, occ: -1, msg: "b"}})
	if fmt.Sprint(outs) != fmt.Sprint([]Outcome{Duplicate, Duplicate, Applied}) {
		t.Fatalf("outcomes %v: the identities of an older state are not recognized", outs)
	}
	for _, r := range st.Recent {
		if !strings.HasPrefix(r, "d:") || len(r) != 13 {
			t.Errorf("recent entry %q is not a digest", r)
		}
	}
	if len(st.Recent) != 3 {
		t.Errorf("recent %v; want the 2 read and the one applied", st.Recent)
	}
	_, outs = run(cfg, st, []in{{at: 240, temp: 20, light: -1, occ: -1, msg: long}, {at: 240, temp: 20, light: -1, occ: -1, msg: "b"}})
	if fmt.Sprint(outs) != fmt.Sprint([]Outcome{Duplicate, Duplicate}) {
		t.Errorf("outcomes %v after the digests were written", outs)
	}
	for id, want := range map[reading.Identity]string{{MsgID: "room-1-000140"}: "d:jnojAaZF2EE", {UnixNano: 1422886680000000000}: "d:jrJVmu-fE2I"} {
		if got := encodeDigest(id.Digest()); got != want {
			t.Errorf("digest of %v = %s; want %s (a changed digest forgets every device's recent readings)", id, got, want)
		}
		f := fnv.New64a() // the same as the standard library's FNV-1a of the identity's text
		f.Write([]byte(id.String()))
		if f.Sum64() != id.Digest() {
			t.Errorf("digest of %v is not FNV-1a 64 of %q", id, id.String())
		}
	}
}

// TestSeenIsTheRingsDigests: seen answers what a scan of the ring answers, for digests that
// share their top byte (the filter's bucket) or not, as the ring fills, wraps and evicts.
func TestSeenIsTheRingsDigests(t *testing.T) {
	var d Device
	var pushed []uint64
	digest := func(i int) uint64 { return uint64(i%3)<<56 | uint64(i)*0x9E3779B97F4A7C15>>8 } // three top bytes
	for i := range 3 * RecentIDs {
		h := digest(i)
		d.push(h)
		pushed = append(pushed, h)
		recent := pushed[max(0, len(pushed)-RecentIDs):]
		for j := range len(pushed) + 5 {
			q := digest(j)
			if got, want := d.seen(q), slices.Contains(recent, q); got != want {
				t.Fatalf("after %d pushes: seen(%x) = %v; the ring says %v", i+1, q, got, want)
			}
		}
	}
	var total int
	for _, n := range d.inRing {
		total += int(n)
	}
	if total != RecentIDs {
		t.Fatalf("the filter counts %d digests; the ring holds %d", total, RecentIDs)
	}
}

// TestResetIsNewRules: a Device Reset after another device's readings (its rules, states,
// statistics, recent identities) applies the next device's readings exactly as NewRules does:
// the same alerts, outcomes and state.
func TestResetIsNewRules(t *testing.T) {
	before := []threshold.Config{high(23, 25, 0), {UserID: "bob", DeviceID: "room-1", TempZScore: threshold.Of(2), StuckSeconds: 60, LightNoOccupancy: threshold.Of(300)}}
	after := []threshold.Config{high(22, 24, 60)}
	after[0].UserID = "carol" // the first rule of both, of another user: another state key
	var ins []in
	for i := range 40 {
		x := tmp(i*30, 20+float64(i%9))
		x.msg = fmt.Sprintf("m-%d", i%35) // some repeats: duplicates
		ins = append(ins, x)
	}
	apply := func(d *Device) ([]string, []Outcome) {
		var got []string
		var outs []Outcome
		for _, x := range ins {
			r := x.reading()
			outs = append(outs, d.Apply(&r, func(a alert.Alert) { got = append(got, short(a)) }))
		}
		d.Finish()
		return got, outs
	}
	var used DeviceState
	reused := NewDevice(&used, before)
	apply(reused)
	reused.Clear()
	var st1, st2 DeviceState
	reused.Reset(&st1, "room-1", InForce(after), nil)
	got, gotOuts := apply(reused)
	want, wantOuts := apply(NewRules(&st2, "room-1", InForce(after), nil))
	if !slices.Equal(got, want) || !slices.Equal(gotOuts, wantOuts) || !reflect.DeepEqual(st1, st2) {
		t.Fatalf("after Reset: %v %v %+v\nNewRules: %v %v %+v", got, gotOuts, st1, want, wantOuts, st2)
	}
	if len(want) == 0 {
		t.Fatal("the scenario raises nothing: it tells nothing")
	}
}

// TestClearKeepsNothingOfTheLastDevices: Reset from a device of many rules to one of few, then
// Clear (as the evaluator's pooled batch does), leaves no slot pointing at a state or name of the
// first (which the pool would keep alive). Found by review.
func TestClearKeepsNothingOfTheLastDevices(t *testing.T) {
	many := []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(20), TempViolation: threshold.Of(22), TempZScore: threshold.Of(2), StuckSeconds: 60, LightNoOccupancy: threshold.Of(300)},
		{UserID: "bob", DeviceID: "room-1", TempWarning: threshold.Of(20), TempLowWarning: threshold.Of(30)},
	}
	var st1, st2 DeviceState
	var d Device
	d.Reset(&st1, "room-1", InForce(many), nil)
	for i := range 5 {
		r := tmp(i*30, 25).reading()
		d.Apply(&r, func(alert.Alert) {})
	}
	d.Finish()
	d.Reset(&st2, "room-2", InForce([]threshold.Config{high(23, 25, 0)}), nil)
	d.Clear()
	left := 0
	for _, sl := range d.slots[:cap(d.slots)] {
		if sl.state != nil || sl.spare != nil || sl.k != "" || sl.name != "" {
			left++
		}
	}
	if left > 0 {
		t.Errorf("%d slots past the length still hold the first device's rule states or names", left)
	}
}
