package alarm

import (
	"encoding/binary"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// MaxGap is the longest gap between two level-bearing readings that keeps a run going.
const MaxGap = 300 * time.Second

// RecentIDs is how many identities of applied readings a device's state remembers, to tell a
// duplicate from a merely late reading.
const RecentIDs = 32

// RuleState is the alarm state of one (user, device, rule). Times are Unix nanoseconds; the Has*
// flags say which of them hold a value. How it is stored is each store's business (and pinned by
// its golden test); this package knows nothing of storage.
type RuleState struct {
	Flags     uint8
	LastAt    int64 // last level-bearing applied reading
	WarnRun   int64 // start of the run at >= WARNING
	ViolRun   int64 // start of the run at >= VIOLATION
	Open      Level // OK when closed, else the episode's severity
	OpenStart int64 // the episode's OPEN window start
}

// Flags of RuleState.
const (
	hasLast uint8 = 1 << iota
	hasWarnRun
	hasViolRun
)

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
}

// Clone returns a deep copy: nothing the copy holds is shared with s.
func (s DeviceState) Clone() DeviceState {
	out := DeviceState{Last: s.Last, HasLast: s.HasLast}
	if s.Recent != nil {
		out.Recent = append(make([]string, 0, len(s.Recent)), s.Recent...)
	}
	if s.Rules != nil {
		out.Rules = make(map[string]*RuleState, len(s.Rules))
		for k, rs := range s.Rules {
			c := *rs
			out.Rules[k] = &c
		}
	}
	return out
}

// RuleKey is the key of a user's rule state in DeviceState.Rules.
func RuleKey(rule Rule, user string) string { return rule.String() + ":" + user }

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
// NewDevice, apply the batch's readings in order, then call Finish; it is not safe for concurrent use.
type Device struct {
	st      *DeviceState
	configs []threshold.Config
	rules   [][NumRules]*RuleState // per config; nil until first needed
	keys    [][NumRules]string     // per config, the RuleKey of each rule
	changed bool
	// orphans are the keys of rule states whose config is gone (deleted): the next applied
	// reading resolves their open episodes and drops them.
	orphans []string
	dropped bool // an orphan was dropped: the state must be written even if no config is left

	// The identities of the last RecentIDs applied readings, as a ring (st.Recent is rebuilt from
	// it by Finish), with a hash of each for a fast scan.
	ring     [RecentIDs]reading.Identity
	hashes   [RecentIDs]uint64
	ringLen  int
	ringNext int
}

// hash is a cheap pre-filter for the ring scan (a match is always confirmed by comparing the
// identities): the length and the first and last eight bytes of a msg_id, or the time, mixed.
func hash(id reading.Identity) uint64 {
	s := id.MsgID
	if s == "" {
		return mix(uint64(id.UnixNano) ^ 0x9e3779b97f4a7c15)
	}
	h := uint64(len(s))
	if len(s) >= 8 {
		h ^= mix(binary.LittleEndian.Uint64([]byte(s[:8])))
		h ^= mix(binary.LittleEndian.Uint64([]byte(s[len(s)-8:])) + 0x9e3779b97f4a7c15)
	} else {
		for i := 0; i < len(s); i++ {
			h = h<<8 | uint64(s[i])
		}
		h = mix(h)
	}
	return h
}

// mix is the finalizer of SplitMix64.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// seen reports whether id is among the recent identities.
func (d *Device) seen(id reading.Identity, h uint64) bool {
	for i := 0; i < d.ringLen; i++ {
		if d.hashes[i] == h && d.ring[i] == id {
			return true
		}
	}
	return false
}

// NewDevice prepares to apply readings to st (modified in place) under the device's configs.
func NewDevice(st *DeviceState, configs []threshold.Config) *Device {
	d := &Device{st: st, configs: configs, rules: make([][NumRules]*RuleState, len(configs)), keys: make([][NumRules]string, len(configs))}
	if st.Rules == nil {
		st.Rules = map[string]*RuleState{}
	}
	live := make(map[string]bool, len(configs)*int(NumRules))
	for i := range configs {
		for r := Rule(0); r < NumRules; r++ {
			d.keys[i][r] = RuleKey(r, configs[i].UserID)
			d.rules[i][r] = st.Rules[d.keys[i][r]]
			live[d.keys[i][r]] = true
		}
	}
	for k := range st.Rules {
		if !live[k] {
			d.orphans = append(d.orphans, k)
		}
	}
	sort.Strings(d.orphans) // alerts in a stable order
	for _, s := range st.Recent {
		if id, ok := reading.ParseIdentity(s); ok {
			d.push(id)
		}
	}
	return d
}

// Finish writes what the batch changed back into the state and reports whether the state is
// worth writing: it changed, and someone watches the device (or a deleted config's state went).
func (d *Device) Finish() bool {
	if d.changed {
		d.st.Recent = d.st.Recent[:0]
		for i := 0; i < d.ringLen; i++ {
			d.st.Recent = append(d.st.Recent, d.ring[(d.ringNext-d.ringLen+i+RecentIDs)%RecentIDs].String())
		}
	}
	return d.changed && (len(d.configs) > 0 || d.dropped)
}

func (d *Device) push(id reading.Identity) { d.pushHashed(id, hash(id)) }

func (d *Device) pushHashed(id reading.Identity, h uint64) {
	if d.ringLen < RecentIDs {
		d.ringLen++
	}
	d.ring[d.ringNext], d.hashes[d.ringNext] = id, h
	d.ringNext = (d.ringNext + 1) % RecentIDs
}

// Apply applies one valid reading of the device and calls emit for each alert it raises, in
// config order then rule order.
func (d *Device) Apply(r *reading.Reading, emit func(alert.Alert)) Outcome {
	t := r.EventTime.UnixNano()
	id := reading.Identity{MsgID: r.MsgID}
	if id.MsgID == "" {
		id.UnixNano = t
	}
	h := hash(id)
	// A reading without msg_id that is not late cannot equal an applied one: skip the scan.
	if (r.MsgID != "" || d.st.HasLast && t <= d.st.Last) && d.seen(id, h) {
		return Duplicate
	}
	if d.st.HasLast && t <= d.st.Last {
		return Late
	}
	d.st.Last, d.st.HasLast = t, true
	d.pushHashed(id, h)
	d.changed = true
	if len(d.orphans) > 0 {
		d.dropOrphans(r, emit)
	}

	for i := range d.configs {
		c := &d.configs[i]
		for rule := Rule(0); rule < NumRules; rule++ {
			lvl, ok := rule.Level(r, c)
			if !ok {
				continue
			}
			rs := d.rules[i][rule]
			if rs == nil {
				if lvl == OK {
					continue // OK on a fresh state changes nothing but the last time
				}
				rs = &RuleState{}
				d.rules[i][rule] = rs
				d.st.Rules[d.keys[i][rule]] = rs
			}
			if kind, sev, start, fire := step(rs, lvl, t, c.SustainSeconds); fire {
				v, _ := r.Value(rule.Metric())
				a := alert.Alert{
					Kind:           kind,
					AlertTime:      r.EventTime,
					UserID:         c.UserID,
					DeviceID:       r.DeviceID,
					Rule:           rule.Name(),
					Severity:       sev.Severity(),
					Metric:         rule.Metric().String(),
					ObservedValue:  alert.Num(v),
					ThresholdValue: alert.Num(rule.Threshold(c, sev)),
					WindowStartMs:  start / int64(time.Millisecond),
					WindowEndMs:    r.EventTime.UnixMilli(),
				}
				a.AlertID = alert.ID(&a)
				emit(a)
			}
			if rs.Open == OK && rs.Flags&(hasWarnRun|hasViolRun) == 0 {
				// Nothing left worth remembering: drop the entry so an idle state stays small.
				delete(d.st.Rules, d.keys[i][rule])
				d.rules[i][rule] = nil
			}
		}
	}
	return Applied
}

// step applies a reading of level lvl at time t (ns) to one rule state. It returns the alert to
// emit, if any: its kind, severity and window start (ns).
func step(rs *RuleState, lvl Level, t int64, sustainSeconds int64) (alert.Kind, Level, int64, bool) {
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

	// Configs are validated (at most 7 days); a larger value must still not wrap around.
	sustain := int64(math.MaxInt64)
	if sustainSeconds < math.MaxInt64/int64(time.Second) {
		sustain = sustainSeconds * int64(time.Second)
	}
	due := OK
	var dueStart int64
	if rs.Flags&hasWarnRun != 0 && t-rs.WarnRun >= sustain {
		due, dueStart = Warning, rs.WarnRun
	}
	if rs.Flags&hasViolRun != 0 && t-rs.ViolRun >= sustain {
		due, dueStart = Violation, rs.ViolRun
	}

	switch {
	case rs.Open == OK:
		if due > OK {
			rs.Open, rs.OpenStart = due, dueStart
			return alert.Open, due, dueStart, true
		}
	case lvl == OK:
		sev, start := rs.Open, rs.OpenStart
		rs.Open, rs.OpenStart = OK, 0
		return alert.Resolve, sev, start, true
	case rs.Open == Warning && due == Violation:
		rs.Open = Violation
		return alert.Escalate, Violation, dueStart, true
	}
	return "", OK, 0, false
}

// dropOrphans resolves the open episodes of deleted configs at reading r and drops their states
// (DESIGN.md, "Alarm state": the device's next applied reading resolves it). A config added again
// later starts afresh.
func (d *Device) dropOrphans(r *reading.Reading, emit func(alert.Alert)) {
	for _, k := range d.orphans {
		rs := d.st.Rules[k]
		delete(d.st.Rules, k)
		d.dropped = true
		name, user, _ := strings.Cut(k, ":")
		rule, known := ruleNamed(name)
		if rs == nil || rs.Open == OK || !known {
			continue
		}
		a := alert.Alert{
			Kind:          alert.Resolve,
			AlertTime:     r.EventTime,
			UserID:        user,
			DeviceID:      r.DeviceID,
			Rule:          rule.Name(),
			Severity:      rs.Open.Severity(),
			Metric:        rule.Metric().String(),
			WindowStartMs: rs.OpenStart / int64(time.Millisecond),
			WindowEndMs:   r.EventTime.UnixMilli(),
			// ThresholdValue stays null: the config that set it is gone.
		}
		if v, ok := r.Value(rule.Metric()); ok {
			a.ObservedValue = alert.Num(v)
		}
		a.AlertID = alert.ID(&a)
		emit(a)
	}
	d.orphans = nil
}

// ruleNamed returns the rule whose Name is name.
func ruleNamed(name string) (Rule, bool) {
	for r := Rule(0); r < NumRules; r++ {
		if string(r.Name()) == name {
			return r, true
		}
	}
	return 0, false
}
