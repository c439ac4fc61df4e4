package alarm

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// MaxGap is the longest gap between two level-bearing readings that keeps a run going.
const MaxGap = 300 * time.Second

// RecentIDs is how many identities of applied readings a device's state remembers, to tell a
// duplicate from a merely late reading.
const RecentIDs = 32

// RuleState is the alarm state of one (user, device, rule). Times are Unix nanoseconds; the Has*
// flags say which of them hold a value. How it is stored is Record's (record.go).
type RuleState struct {
	Flags     uint8
	LastAt    int64 // last level-bearing applied reading
	WarnRun   int64 // start of the run at >= WARNING
	ViolRun   int64 // start of the run at >= VIOLATION
	Open      Level // OK when closed, else the episode's severity
	OpenStart int64 // the episode's OPEN window start
	// LastNotice is the alert time of the open episode's last OPEN, ESCALATE or REMIND: the next
	// REMIND is due remind_seconds after it.
	LastNotice int64
	// OpenID and NoticeID are the first AlertIDPrefix characters of the ids of the episode's OPEN
	// and of its last OPEN, ESCALATE or REMIND: `iotwatch alerts ack --alert ID` finds the episode
	// by the id of an alert people received.
	OpenID, NoticeID string
}

// AlertIDPrefix is how much of an alert id a rule state keeps (64 bits).
const AlertIDPrefix = 16

// Flags of RuleState.
const (
	hasLast uint8 = 1 << iota
	hasWarnRun
	hasViolRun
	acked // someone acknowledged the open episode: no REMIND until it escalates
)

// Acked reports whether the open episode was acknowledged (since it opened or last escalated).
func (rs *RuleState) Acked() bool { return rs.Flags&acked != 0 }

// DeviceState is everything the alarm machine remembers of one device between batches. Apply
// changes it in place: whoever holds one owns it, and hands a Clone to anyone who may keep it.
type DeviceState struct {
	// Last is the event time (Unix ns) of the last applied reading; HasLast says whether there was one.
	Last    int64
	HasLast bool
	// Recent holds the identities of the last RecentIDs applied readings, oldest first, as
	// reading.Identity.String spells them.
	Recent []string
	// Rules maps RuleKey(rule, user) to the rule state of that user.
	Rules map[string]*RuleState
	// Temp is the device's exponentially weighted mean and variance of temperature (the anomaly
	// rule, shared by its users), and its stuck run (the sensor_stuck rule).
	Temp TempStats
	// Stats are the same of the other metrics an anomaly or stuck rule in force watches, by
	// metric name (temperature's are Temp, kept always, as the earlier editions did).
	Stats map[string]*TempStats
	// Snoozes are the users' snoozes of this device, each until a time (Unix ns); a snooze with
	// no rule covers every rule.
	Snoozes []Snooze
	// UsedLinks are the one-click links used on this device, kept until they would have expired,
	// so that a link works once.
	UsedLinks []UsedLink
}

// UsedLink is a one-click link's code that was used, and when it would have expired (Unix ns).
type UsedLink struct {
	Code  string
	Until int64
}

// Snooze is one user's snooze of a device, or of one rule of it, until a time (Unix ns).
type Snooze struct {
	User  string
	Rule  string // "" for every rule of the device
	Until int64
	// Token is the one-click link that made it ("" for another channel): a link works once.
	Token string
}

// TempStats are the per-device statistics of temperature the anomaly and stuck rules need.
type TempStats struct {
	N    int64   // readings folded into the mean, capped at AnomalyWarmUp (only "enough" matters)
	Mean float64 // exponentially weighted mean
	Var  float64 // exponentially weighted variance
	// The stuck run: consecutive applied readings with exactly this value, from StuckStart, the
	// last at StuckLast; HasStuck says whether a run exists.
	StuckValue float64
	StuckStart int64
	StuckLast  int64
	HasStuck   bool
}

// Clone returns a deep copy: nothing the copy holds is shared with s.
func (s DeviceState) Clone() DeviceState {
	out := DeviceState{Last: s.Last, HasLast: s.HasLast, Temp: s.Temp}
	if s.Snoozes != nil {
		out.Snoozes = append(make([]Snooze, 0, len(s.Snoozes)), s.Snoozes...)
	}
	if s.UsedLinks != nil {
		out.UsedLinks = append(make([]UsedLink, 0, len(s.UsedLinks)), s.UsedLinks...)
	}
	if s.Recent != nil {
		out.Recent = append(make([]string, 0, len(s.Recent)), s.Recent...)
	}
	if s.Rules != nil {
		out.Rules = make(map[string]*RuleState, len(s.Rules))
		copies := make([]RuleState, 0, len(s.Rules)) // one allocation, not one a rule
		for k, rs := range s.Rules {
			copies = append(copies, *rs)
			out.Rules[k] = &copies[len(copies)-1]
		}
	}
	if s.Stats != nil {
		out.Stats = make(map[string]*TempStats, len(s.Stats))
		copies := make([]TempStats, 0, len(s.Stats))
		for k, st := range s.Stats {
			copies = append(copies, *st)
			out.Stats[k] = &copies[len(copies)-1]
		}
	}
	return out
}

// RuleKey is the key of a user's rule state in DeviceState.Rules.
func RuleKey(rule Rule, user string) string {
	return string(appendRuleKey(make([]byte, 0, len(rule)+1+len(user)), rule, user))
}

// appendRuleKey appends RuleKey(rule, user) to b: a map lookup with string(b) builds no string.
func appendRuleKey(b []byte, rule Rule, user string) []byte {
	return append(append(append(b, rule...), ':'), user...)
}

// key is the slot's RuleKey, built once.
func (sl *slot) key() string {
	if sl.k == "" {
		sl.k = RuleKey(sl.name, sl.user)
	}
	return sl.k
}

// is reports whether k is the slot's RuleKey, building none.
func (sl *slot) is(k string) bool {
	n := len(sl.name)
	return len(k) == n+1+len(sl.user) && k[:n] == string(sl.name) && k[n] == ':' && k[n+1:] == sl.user
}

// Outcome says what became of one reading.
type Outcome uint8

// Outcomes of Apply.
const (
	Applied   Outcome = iota
	Late              // event_time not after the last applied reading: not applied to alarm state
	Duplicate         // same identity as an applied reading: not applied
)

func (o Outcome) String() string {
	return [...]string{"applied", "late", "duplicate"}[o]
}

// Device applies readings of one device to its state. Make one per device and batch with
// NewDevice (or NewRules), apply the batch's readings in order, then call Finish; it is not safe
// for concurrent use.
type Device struct {
	st       *DeviceState
	deviceID string
	rules    []rule.InForce // judged in this order (rule.Resolve's: a user's rules together)
	slots    []slot         // per rule
	users    []userRules    // the users' runs of rules, in order
	// watched are the metrics whose statistics are kept: temperature, then those an anomaly or
	// stuck rule watches (the first nWatched).
	watched  [reading.MaxMetrics]reading.Metric
	nWatched int
	changed  bool
	// orphans are the keys of rule states whose rule is gone (deleted, or no longer in force):
	// the next applied reading resolves their open episodes and drops them.
	orphans []string
	dropped bool // an orphan was dropped: the state must be written even if no rule is left

	// The digests of the identities of the last RecentIDs applied readings, as a ring
	// (st.Recent is rebuilt from it by Finish).
	ring     [RecentIDs]uint64
	ringLen  int
	ringNext int
	// inRing counts the ring's digests by their top byte: a reading whose count is 0 is not a
	// duplicate, without a scan of the ring (seen).
	inRing [256]uint8
	// statsOf are the entries of st.Stats looked up so far (stats).
	statsOf [reading.MaxMetrics]*TempStats
	// cat names the declared metrics (reading.Metric values past the built-ins) of the readings
	// applied: the catalog they were decoded with.
	cat *reading.Catalog
}

// digestPrefix marks a stored digest in DeviceState.Recent: "d:" and 11 base64url characters.
// Entries of the identities themselves ("m:…", "t:…", as states before digests kept them) are
// read too, and written back as digests.
const digestPrefix = "d:"

// digestLen is the length of a stored digest: the prefix and 11 base64url characters.
const digestLen = len(digestPrefix) + 11

func encodeDigest(h uint64) string { return string(appendDigest(nil, h)) }

// appendDigest appends h as stored: digestPrefix and the base64url (no padding) of its 8
// big-endian bytes.
func appendDigest(b []byte, h uint64) []byte {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], h)
	return base64.RawURLEncoding.AppendEncode(append(b, digestPrefix...), raw[:])
}

func decodeDigest(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(rest) != 11 {
		return 0, false
	}
	var raw [9]byte // 11 characters carry 66 bits
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(rest)); err != nil || n != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(raw[:8]), true
}

// seen reports whether the identity of digest h is among the recent ones.
func (d *Device) seen(h uint64) bool {
	if d.inRing[h>>56] == 0 {
		return false // most readings: none of the ring's 32 digests shares h's top byte
	}
	for i := 0; i < d.ringLen; i++ {
		if d.ring[i] == h {
			return true
		}
	}
	return false
}

// slot is what a Device keeps of one rule in force.
type slot struct {
	state  *RuleState // nil until needed
	name   alert.Rule // its name in alerts
	user   string     // its user: RuleKey(name, user) keys its state
	metric reading.Metric
	known  bool    // the rule's metric is one a reading carries (a built-in, or declared in the catalog)
	floor  float64 // an anomaly rule's floor of the standard deviation
	// A rule that goes in and out of a run makes and drops its state reading after reading:
	// its key, once built, and its last dropped state (spare, no longer in st.Rules) are
	// reused rather than allocated again.
	k     string
	spare *RuleState
}

// NewDevice prepares to apply readings to st (modified in place) under the device's wide
// configs: their device rows (InForce).
func NewDevice(st *DeviceState, configs []threshold.Config) *Device {
	id := ""
	if len(configs) > 0 {
		id = configs[0].DeviceID
	}
	return NewRules(st, id, InForce(configs), nil)
}

// NewRules prepares to apply readings of device id to st (modified in place) under the rules in
// force for it, in the order rule.Resolve gives. cat is the metrics catalog the readings are
// decoded with (nil: the built-ins only): a rule on a metric it does not declare never fires,
// and its open episode resolves at the next reading as a deleted rule's does.
func NewRules(st *DeviceState, id string, rules []rule.InForce, cat *reading.Catalog) *Device {
	d := new(Device)
	d.Reset(st, id, rules, cat)
	return d
}

// Clear drops what d refers to (a state, rules, a catalog), keeping its room for a Reset.
func (d *Device) Clear() {
	d.forget()
	*d = Device{slots: d.slots[:0], users: d.users[:0], orphans: d.orphans[:0]}
}

// forget zeroes the slots and orphans of every device d held, to their capacity: a device of
// fewer rules than the one before would leave the rest pointing at its states.
func (d *Device) forget() {
	clear(d.slots[:cap(d.slots)])
	clear(d.orphans[:cap(d.orphans)])
}

// Reset makes d what NewRules(st, id, rules, cat) returns, reusing the room d has: a caller that
// takes devices one after the other (the evaluator, device by device in a batch) allocates one.
func (d *Device) Reset(st *DeviceState, id string, rules []rule.InForce, cat *reading.Catalog) {
	n := len(rules)
	d.forget() // states, spares and keys of the last devices' rules
	slots := slices.Grow(d.slots[:0], n)[:n]
	users, orphans := d.users[:0], d.orphans[:0]
	*d = Device{st: st, deviceID: id, rules: rules, slots: slots, users: users, orphans: orphans, cat: cat}
	if st.Rules == nil {
		st.Rules = map[string]*RuleState{}
	}
	found := 0                                        // rule states that belong to a rule in force
	d.watched[0], d.nWatched = reading.Temperature, 1 // kept always, as the earlier editions did
	var watched uint64 = 1 << reading.Temperature
	var keyBuf [128]byte // a key's bytes, for the lookups
	for i := range rules {
		r := &rules[i].Row
		if i == 0 || r.UserID != rules[i-1].UserID {
			d.users = append(d.users, userRules{from: i, to: i, silent: -1})
		}
		u := &d.users[len(d.users)-1]
		u.to = i + 1
		if r.Kind == rule.Silent {
			u.silent = i
		}
		sl := &d.slots[i]
		sl.name = r.Name()
		sl.user = r.UserID
		sl.metric, sl.known = cat.Lookup(r.Metric)
		// A rule on a metric the catalog does not declare (any more) is not in force: its state
		// is an orphan's, resolved at the next reading as a deleted rule's is.
		if sl.inForce(r) {
			if sl.state = st.Rules[string(appendRuleKey(keyBuf[:0], sl.name, r.UserID))]; sl.state != nil { // no key built for a lookup
				found++
			}
		}
		sl.floor = floorOf(r, cat)
		if sl.known && (r.Kind == rule.Anomaly || r.Kind == rule.Stuck) && watched&(1<<sl.metric) == 0 {
			watched |= 1 << sl.metric
			d.watched[d.nWatched] = sl.metric
			d.nWatched++
		}
	}
	if found < len(st.Rules) { // some belong to no rule in force: deleted ones
		for k := range st.Rules {
			if !d.live(k) {
				d.orphans = append(d.orphans, k)
			}
		}
		sort.Strings(d.orphans) // alerts in a stable order
	}
	for _, s := range st.Recent {
		if h, ok := decodeDigest(s); ok {
			d.push(h)
		} else if id, ok := reading.ParseIdentity(s); ok {
			d.push(id.Digest())
		}
	}
}

// userRules is one user's rules, rules[from:to], and the index of their silent rule (-1: none).
type userRules struct{ from, to, silent int }

// live reports whether a rule state key belongs to a rule in force.
func (d *Device) live(k string) bool {
	for i := range d.slots {
		if d.slots[i].inForce(&d.rules[i].Row) && d.slots[i].is(k) {
			return true
		}
	}
	return false
}

// inForce reports whether the slot's rule r is judged: silent, or on a metric readings carry.
func (sl *slot) inForce(r *rule.Row) bool { return sl.known || r.Kind == rule.Silent }

// stats are the device's statistics of metric m (made when missing).
func (d *Device) stats(m reading.Metric) *TempStats {
	if s := d.statsOf[m]; s != nil {
		return s // inlined: a lookup a rule and a reading
	}
	return d.newStats(m)
}

func (d *Device) newStats(m reading.Metric) *TempStats {
	if m == reading.Temperature {
		d.statsOf[m] = &d.st.Temp
		return &d.st.Temp
	}
	if d.st.Stats == nil {
		d.st.Stats = map[string]*TempStats{}
	}
	name := d.cat.Name(m)
	s := d.st.Stats[name]
	if s == nil {
		s = &TempStats{}
		d.st.Stats[name] = s
	}
	d.statsOf[m] = s // the map's entries stay until Finish: a lookup a metric, not a reading
	return s
}

// Finish writes what the batch changed back into the state and reports whether the state is
// worth writing: it changed, and someone watches the device (or a deleted config's state went).
func (d *Device) Finish() bool {
	if d.changed {
		// One string holds every digest, each entry a slice of it: one allocation, not two a digest
		// (a strings.Builder hands its bytes over as the string, without a copy).
		var b strings.Builder
		b.Grow(d.ringLen * digestLen)
		var buf [digestLen]byte
		for i := 0; i < d.ringLen; i++ {
			b.Write(appendDigest(buf[:0], d.ring[(d.ringNext-d.ringLen+i+RecentIDs)%RecentIDs]))
		}
		all := b.String()
		d.st.Recent = d.st.Recent[:0]
		for i := 0; i < d.ringLen; i++ {
			d.st.Recent = append(d.st.Recent, all[i*digestLen:(i+1)*digestLen])
		}
		// The statistics of a metric no rule in force watches any more: a rule that comes back
		// starts afresh (warm-up) instead of judging against a mean of days ago.
		for m := range d.st.Stats {
			if !d.watches(m) {
				delete(d.st.Stats, m)
			}
		}
		if len(d.st.Stats) == 0 {
			d.st.Stats = nil
		}
	}
	return d.changed && (len(d.rules) > 0 || d.dropped)
}

// watches reports whether the statistics of the metric named m are kept.
func (d *Device) watches(m string) bool {
	for _, w := range d.watched[:d.nWatched] {
		if d.cat.Name(w) == m {
			return true
		}
	}
	return false
}

func (d *Device) push(h uint64) {
	if d.ringLen < RecentIDs {
		d.ringLen++ // the ring fills from 0: the slot at ringNext is empty
	} else {
		d.inRing[d.ring[d.ringNext]>>56]--
	}
	d.ring[d.ringNext] = h
	d.inRing[h>>56]++
	d.ringNext = (d.ringNext + 1) % RecentIDs
}

// Apply applies one valid reading of the device and calls emit for each alert it raises: by
// user, each user's open silence resolved first, then the rules in order.
func (d *Device) Apply(r *reading.Reading, emit func(alert.Alert)) Outcome {
	return d.apply(r, false, emit)
}

// AdvanceAndApply is Advance to r's event time, then Apply, when r is a reading Apply applies
// (Accepts): the device's clock reaches the reading first, so a silence due before it opens
// (with the id the scheduled check gives it) and the reading then resolves it. It is Accepts,
// Advance and Apply with the duplicate check made once.
func (d *Device) AdvanceAndApply(r *reading.Reading, emit func(alert.Alert)) Outcome {
	return d.apply(r, true, emit)
}

func (d *Device) apply(r *reading.Reading, advance bool, emit func(alert.Alert)) Outcome {
	t := r.EventTime.UnixNano()
	h := r.IdentityDigest()
	// A reading without msg_id that is not late cannot equal an applied one: skip the scan.
	if (r.MsgID != "" || d.st.HasLast && t <= d.st.Last) && d.seen(h) {
		return Duplicate
	}
	if d.st.HasLast && t <= d.st.Last {
		return Late
	}
	if advance {
		d.Advance(r.EventTime, emit)
	}
	d.st.Last, d.st.HasLast = t, true
	d.push(h)
	d.changed = true
	if len(d.orphans) > 0 {
		d.dropOrphans(r, emit)
	}

	// The device's statistics of each watched metric (temperature always): an anomaly score is
	// judged against what came before this reading, the stuck run includes it.
	var scored [reading.MaxMetrics]bool
	for _, m := range d.watched[:d.nWatched] {
		if x, ok := r.Value(m); ok {
			st := d.stats(m)
			scored[m] = st.N >= AnomalyWarmUp
			st.stuck(x, t)
		}
	}

	for _, u := range d.users {
		if u.silent >= 0 && d.slots[u.silent].state != nil {
			d.resolveSilence(u.silent, r, emit)
		}
		for i := u.from; i < u.to; i++ {
			d.judge(i, r, t, scored[d.slots[i].metric], emit)
		}
	}
	for _, m := range d.watched[:d.nWatched] {
		if x, ok := r.Value(m); ok {
			d.stats(m).fold(x)
		}
	}
	return Applied
}

// judge applies reading r (at t) to rule i; scored says its metric's statistics are warmed up.
func (d *Device) judge(i int, r *reading.Reading, t int64, scored bool, emit func(alert.Alert)) {
	row := &d.rules[i].Row
	if row.Kind == rule.Silent || !d.slots[i].known {
		return
	}
	x, has := r.Value(d.slots[i].metric)
	if !has {
		return
	}
	var lvl Level
	switch row.Kind {
	case rule.Anomaly:
		if st := d.stats(d.slots[i].metric); scored && st.zscore(x, d.slots[i].floor) > row.Warning.V {
			lvl = Warning
		}
	case rule.Stuck:
		d.stuckStep(i, r, x, emit)
		return
	default:
		var ok bool
		if lvl, ok = level(row, x, r); !ok {
			return
		}
	}
	rs := d.slots[i].state
	if rs == nil {
		if lvl == OK {
			return // OK on a fresh state changes nothing but the last time
		}
		rs = d.ruleState(i)
	}
	isHeld := lvl == OK && rs.Open != OK && held(row, x, r)
	if kind, sev, start, fire := step(rs, lvl, isHeld, t, row.SustainSeconds, row.RemindSeconds); fire {
		a := d.newAlert(i, kind, sev, r.EventTime, start)
		a.ObservedValue, a.ThresholdValue = alert.Num(x), alert.Num(thresholdOf(row, sev))
		emit(d.finish(i, a))
	}
	if rs.Open == OK && rs.Flags&(hasWarnRun|hasViolRun) == 0 {
		d.dropRule(i) // nothing left worth remembering: an idle state stays small
	}
}

// ruleState returns rule i's state, made when missing.
func (d *Device) ruleState(i int) *RuleState {
	sl := &d.slots[i]
	rs := sl.state
	if rs == nil {
		if rs = sl.spare; rs != nil {
			*rs, sl.spare = RuleState{}, nil
		} else {
			rs = &RuleState{}
		}
		sl.state = rs
		d.st.Rules[sl.key()] = rs
	}
	return rs
}

func (d *Device) dropRule(i int) {
	sl := &d.slots[i]
	delete(d.st.Rules, sl.key())
	sl.spare, sl.state = sl.state, nil
}

// newAlert is an alert of rule i, its values left for the caller.
func (d *Device) newAlert(i int, kind alert.Kind, sev Level, at time.Time, start int64) alert.Alert {
	row := &d.rules[i].Row
	return alert.Alert{
		Kind:          kind,
		AlertTime:     at,
		UserID:        row.UserID,
		DeviceID:      d.deviceID,
		Rule:          d.slots[i].name,
		Severity:      sev.Severity(),
		Metric:        row.Metric,
		WindowStartMs: start / int64(time.Millisecond),
		WindowEndMs:   at.UnixMilli(),
		ConfigVersion: row.Version,
	}
}

// finish gives an alert of rule i its id, and keeps the id in the rule's state (the one
// `alerts ack --alert` finds an episode by).
func (d *Device) finish(i int, a alert.Alert) alert.Alert {
	a.AlertID = alert.ID(&a)
	d.changed = true
	if a.Kind == alert.Open || a.Kind == alert.Escalate || a.Kind == alert.Remind {
		if rs := d.slots[i].state; rs != nil {
			rs.NoticeID = a.AlertID[:AlertIDPrefix]
			if a.Kind == alert.Open {
				rs.OpenID = rs.NoticeID
			}
		}
	}
	return a
}

// step applies a reading of level lvl at time t (ns) to one rule state; held says the reading is
// OK but within the hysteresis margin of an open episode (it counts as OK for runs, and keeps the
// episode open). It returns the alert to emit, if any: its kind, severity and window start (ns).
func step(rs *RuleState, lvl Level, held bool, t int64, sustainSeconds, remindSeconds int64) (alert.Kind, Level, int64, bool) {
	gap := rs.Flags&hasLast != 0 && t-rs.LastAt > int64(MaxGap)
	rs.LastAt = t
	rs.Flags |= hasLast

	if lvl >= Warning {
		if rs.Flags&hasWarnRun == 0 || gap {
			rs.WarnRun = t
			rs.Flags |= hasWarnRun
		}
	} else {
		rs.Flags &^= hasWarnRun
		rs.WarnRun = 0
	}
	if lvl >= Violation {
		if rs.Flags&hasViolRun == 0 || gap {
			rs.ViolRun = t
			rs.Flags |= hasViolRun
		}
	} else {
		rs.Flags &^= hasViolRun
		rs.ViolRun = 0
	}

	due := OK
	var dueStart int64
	if rs.Flags&hasWarnRun != 0 && t-rs.WarnRun >= nanos(sustainSeconds) {
		due, dueStart = Warning, rs.WarnRun
	}
	if rs.Flags&hasViolRun != 0 && t-rs.ViolRun >= nanos(sustainSeconds) {
		due, dueStart = Violation, rs.ViolRun
	}

	switch {
	case rs.Open == OK:
		if due > OK {
			rs.Open, rs.OpenStart, rs.LastNotice = due, dueStart, t
			rs.Flags &^= acked
			return alert.Open, due, dueStart, true
		}
	case lvl == OK && !held:
		sev, start := rs.Open, rs.OpenStart
		rs.Open, rs.OpenStart, rs.LastNotice = OK, 0, 0
		rs.Flags &^= acked
		return alert.Resolve, sev, start, true
	case rs.Open == Warning && due == Violation:
		rs.Open, rs.LastNotice = Violation, t
		rs.Flags &^= acked // an escalation re-arms the reminders
		return alert.Escalate, Violation, dueStart, true
	case remindSeconds > 0 && rs.Flags&acked == 0 && t-rs.LastNotice >= nanos(remindSeconds):
		rs.LastNotice = t
		return alert.Remind, rs.Open, rs.OpenStart, true
	}
	return "", OK, 0, false
}

// nanos converts validated seconds (at most 7 days) to nanoseconds; a larger value must still
// not wrap around.
func nanos(seconds int64) int64 {
	if seconds >= math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return seconds * int64(time.Second)
}

// The anomaly rule's constants (DESIGN.md, "temperature_anomaly").
const (
	// AnomalyAlpha is the weight of a new reading in the mean and variance.
	AnomalyAlpha = 2.0 / 61
	// AnomalyWarmUp is how many readings are folded in before a score is given.
	AnomalyWarmUp = 30
)

// zscore is x's distance from the mean in standard deviations, the deviation floored at floor
// (a flat signal is not infinitely unusual).
func (s *TempStats) zscore(x, floor float64) float64 {
	sd := math.Sqrt(s.Var)
	if !(sd > floor) {
		sd = math.Max(sd, floor) // NaN and signed zeros as math.Max has them; a call it is not inlined
	}
	return math.Abs(x-s.Mean) / sd
}

// fold adds x to the mean and variance.
func (s *TempStats) fold(x float64) {
	if s.N == 0 {
		s.Mean, s.Var, s.N = x, 0, 1
		return
	}
	d := x - s.Mean
	s.Mean += AnomalyAlpha * d
	s.Var = (1 - AnomalyAlpha) * (s.Var + AnomalyAlpha*d*d)
	if s.N < AnomalyWarmUp {
		s.N++
	}
}

// stuck moves the stuck run on with a reading of value x at t: the same value within MaxGap goes
// on with the run, anything else starts a new one.
func (s *TempStats) stuck(x float64, t int64) {
	if s.HasStuck && x == s.StuckValue && t-s.StuckLast <= int64(MaxGap) {
		s.StuckLast = t
		return
	}
	s.StuckValue, s.StuckStart, s.StuckLast, s.HasStuck = x, t, t, true
}

// stuckStep judges stuck rule i at reading r of value x, the metric's stuck run already moved on
// (DESIGN.md, "sensor_stuck"): another value resolves an open episode; the same value keeps it
// open (and reminds); a run that lasted the rule's seconds opens one.
func (d *Device) stuckStep(i int, r *reading.Reading, x float64, emit func(alert.Alert)) {
	row := &d.rules[i].Row
	run := d.stats(d.slots[i].metric)
	t := r.EventTime.UnixNano()
	rs := d.slots[i].state
	alertOf := func(kind alert.Kind, start int64) alert.Alert {
		a := d.newAlert(i, kind, Warning, r.EventTime, start)
		a.ObservedValue, a.ThresholdValue = alert.Num(x), alert.Num(float64(seconds(row)))
		return a
	}
	switch {
	case rs != nil && x != rs.stuckValue():
		emit(d.finish(i, alertOf(alert.Resolve, rs.OpenStart)))
		d.dropRule(i) // the new run starts at this reading: not due before the rule's seconds
	case rs != nil:
		if row.RemindSeconds > 0 && !rs.Acked() && t-rs.LastNotice >= nanos(row.RemindSeconds) {
			rs.LastNotice = t
			emit(d.finish(i, alertOf(alert.Remind, rs.OpenStart)))
		}
	case t-run.StuckStart >= nanos(seconds(row)):
		rs = d.ruleState(i)
		rs.Open, rs.OpenStart, rs.LastNotice = Warning, run.StuckStart, t
		rs.Flags &^= acked
		rs.LastAt = int64(math.Float64bits(x)) // the stuck value, to tell when it moves
		emit(d.finish(i, alertOf(alert.Open, run.StuckStart)))
	}
}

// stuckValue is the value an open stuck episode is stuck at (kept in LastAt, which the rule does
// not otherwise use).
func (rs *RuleState) stuckValue() float64 { return math.Float64frombits(uint64(rs.LastAt)) }

// resolveSilence closes silent rule i's open silence at an applied reading r (DESIGN.md,
// "device_silent"): alert time the later of the reading's and the OPEN's, observed the seconds
// since the last reading before it.
func (d *Device) resolveSilence(i int, r *reading.Reading, emit func(alert.Alert)) {
	row := &d.rules[i].Row
	rs := d.slots[i].state
	d.dropRule(i)
	if rs.Open == OK {
		return
	}
	last := rs.OpenStart
	at := r.EventTime
	if opened := time.Unix(0, last+nanos(seconds(row))).UTC(); opened.After(at) {
		at = opened
	}
	a := d.newAlert(i, alert.Resolve, rs.Open, at, last)
	a.ObservedValue = alert.Num(float64(r.EventTime.UnixNano()-last) / float64(time.Second))
	a.ThresholdValue = alert.Num(float64(seconds(row)))
	emit(d.finish(i, a))
}

// Advance moves the device's clock to now (DESIGN.md, "device_silent"): for each silent rule
// that is due (now - the last applied reading >= its seconds) it opens the silence, alert time
// last + its seconds; and it emits the REMIND of an open silence each time now reaches its last
// notice + remind_seconds. A device that never sent a reading is never silent.
func (d *Device) Advance(now time.Time, emit func(alert.Alert)) {
	if !d.st.HasLast {
		return
	}
	c0 := now.UnixNano()
	for _, u := range d.users { // a user has at most one silent rule, judged in the rules' order
		i := u.silent
		if i < 0 {
			continue
		}
		row := &d.rules[i].Row
		secs := seconds(row)
		rs := d.slots[i].state
		if rs == nil {
			if c0-d.st.Last < nanos(secs) {
				continue
			}
			rs = d.ruleState(i)
			rs.Open, rs.OpenStart, rs.LastNotice = Warning, d.st.Last, d.st.Last+nanos(secs)
			a := d.newAlert(i, alert.Open, Warning, time.Unix(0, rs.LastNotice).UTC(), d.st.Last)
			a.ObservedValue, a.ThresholdValue = alert.Num(float64(secs)), alert.Num(float64(secs))
			emit(d.finish(i, a))
		}
		if row.RemindSeconds == 0 || rs.Acked() {
			continue
		}
		for remind := nanos(row.RemindSeconds); rs.LastNotice+remind <= c0; {
			rs.LastNotice += remind
			a := d.newAlert(i, alert.Remind, rs.Open, time.Unix(0, rs.LastNotice).UTC(), rs.OpenStart)
			a.ObservedValue = alert.Num(float64(rs.LastNotice-rs.OpenStart) / float64(time.Second))
			a.ThresholdValue = alert.Num(float64(secs))
			emit(d.finish(i, a))
		}
	}
}

// WatchesSilence reports whether a silent rule is in force for the device.
func (d *Device) WatchesSilence() bool {
	for i := range d.rules {
		if d.rules[i].Kind == rule.Silent {
			return true
		}
	}
	return false
}

// NextDue is the earliest time a silence or a silence reminder of the device falls due; false
// when none can (no reading yet, or no silent rule).
func (d *Device) NextDue() (time.Time, bool) {
	if !d.st.HasLast {
		return time.Time{}, false
	}
	var next int64
	found := false
	for i := range d.rules {
		row := &d.rules[i].Row
		if row.Kind != rule.Silent {
			continue
		}
		due := d.st.Last + nanos(seconds(row))
		if rs := d.slots[i].state; rs != nil {
			if row.RemindSeconds == 0 || rs.Acked() {
				continue
			}
			due = rs.LastNotice + nanos(row.RemindSeconds)
		}
		if !found || due < next {
			next, found = due, true
		}
	}
	if !found {
		return time.Time{}, false // the zero time: nothing to come (State.Due's "none")
	}
	return time.Unix(0, next).UTC(), true
}

// Accepts reports whether Apply would apply r (it is neither late nor a duplicate), changing
// nothing: a backtest moves its clock only for readings that are applied.
func (d *Device) Accepts(r *reading.Reading) bool {
	t := r.EventTime.UnixNano()
	if d.st.HasLast && t <= d.st.Last {
		return false
	}
	return r.MsgID == "" || !d.seen(r.IdentityDigest())
}

// dropOrphans resolves the open episodes of rules no longer in force at reading r and drops
// their states (DESIGN.md, "Alarm state": the device's next applied reading resolves it). A rule
// in force again later starts afresh.
func (d *Device) dropOrphans(r *reading.Reading, emit func(alert.Alert)) {
	for _, k := range d.orphans {
		rs := d.st.Rules[k]
		delete(d.st.Rules, k)
		d.dropped = true
		name, user, _ := strings.Cut(k, ":")
		metric, _, known := rule.ParseName(Rule(name))
		if rs == nil || rs.Open == OK || !known {
			continue
		}
		a := alert.Alert{
			Kind:          alert.Resolve,
			AlertTime:     r.EventTime,
			UserID:        user,
			DeviceID:      strings.Clone(r.DeviceID), // the reading's may alias its message (reading.Decoder.Alias)
			Rule:          Rule(name),
			Severity:      rs.Open.Severity(),
			Metric:        metric,
			WindowStartMs: rs.OpenStart / int64(time.Millisecond),
			WindowEndMs:   r.EventTime.UnixMilli(),
			// ThresholdValue stays null: the rule that set it is gone.
		}
		if m, ok := d.cat.Lookup(metric); ok {
			if v, ok := r.Value(m); ok {
				a.ObservedValue = alert.Num(v)
			}
		}
		a.AlertID = alert.ID(&a)
		emit(a)
	}
	d.orphans = nil
}
