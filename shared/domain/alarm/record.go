package alarm

// Record is a DeviceState as the stores keep it: the one definition of the stored alarm state,
// shared by the DynamoDB store (the STATE item's attributes) and the file store (the journal's
// and snapshot's JSON). The names in its tags are the stored names, the same in both stores since
// the first edition; each store keeps only its encoding around it (the item's keys and due-index
// attributes, the file store's hand encoder). Changing a name or a field changes what is stored:
// each store pins what it writes with a golden file, and keeps a fixture of every earlier
// format that must still decode.
//
// Everything is a value here (no pointers into a DeviceState), and what is empty is left out.
type Record struct {
	Last    int64                 `json:"last,omitempty" dynamodbav:"last,omitempty"`
	HasLast bool                  `json:"has_last,omitempty" dynamodbav:"has_last,omitempty"`
	Recent  []string              `json:"recent,omitempty" dynamodbav:"recent,omitempty"`
	Rules   map[string]RuleRecord `json:"rules,omitempty" dynamodbav:"rules,omitempty"`
	Temp    *TempRecord           `json:"temp,omitempty" dynamodbav:"temp,omitempty"`
	// Stats are the other metrics' statistics (third edition), by metric name.
	Stats   map[string]TempRecord `json:"ms,omitempty" dynamodbav:"ms,omitempty"`
	Snoozes []SnoozeRecord        `json:"snz,omitempty" dynamodbav:"snz,omitempty"`
	Used    []UsedLinkRecord      `json:"ul,omitempty" dynamodbav:"ul,omitempty"`
	// Version is the store's optimistic-locking version (the file store leaves a zero out, the
	// DynamoDB item always has one).
	Version int64 `json:"version,omitempty" dynamodbav:"version"`
}

// RuleRecord is a RuleState as stored.
type RuleRecord struct {
	Flags     uint8  `json:"f,omitempty" dynamodbav:"f,omitempty"`
	LastAt    int64  `json:"l,omitempty" dynamodbav:"l,omitempty"`
	WarnRun   int64  `json:"w,omitempty" dynamodbav:"w,omitempty"`
	ViolRun   int64  `json:"v,omitempty" dynamodbav:"v,omitempty"`
	Open      uint8  `json:"o,omitempty" dynamodbav:"o,omitempty"`
	OpenStart int64  `json:"os,omitempty" dynamodbav:"os,omitempty"`
	Notice    int64  `json:"n,omitempty" dynamodbav:"n,omitempty"`
	OpenID    string `json:"oi,omitempty" dynamodbav:"oi,omitempty"`
	NoticeID  string `json:"ni,omitempty" dynamodbav:"ni,omitempty"`
}

// TempRecord is TempStats as stored: the anomaly rule's mean and variance, the stuck run.
type TempRecord struct {
	N          int64   `json:"n,omitempty" dynamodbav:"n,omitempty"`
	Mean       float64 `json:"m,omitempty" dynamodbav:"m,omitempty"`
	Var        float64 `json:"v,omitempty" dynamodbav:"v,omitempty"`
	StuckValue float64 `json:"sv,omitempty" dynamodbav:"sv,omitempty"`
	StuckStart int64   `json:"ss,omitempty" dynamodbav:"ss,omitempty"`
	StuckLast  int64   `json:"sl,omitempty" dynamodbav:"sl,omitempty"`
	HasStuck   bool    `json:"s,omitempty" dynamodbav:"s,omitempty"`
}

// SnoozeRecord is a Snooze as stored.
type SnoozeRecord struct {
	User  string `json:"u" dynamodbav:"u"`
	Rule  string `json:"r,omitempty" dynamodbav:"r,omitempty"`
	Until int64  `json:"t" dynamodbav:"t"`
	Token string `json:"k,omitempty" dynamodbav:"k,omitempty"`
}

// UsedLinkRecord is a UsedLink as stored.
type UsedLinkRecord struct {
	Code  string `json:"c" dynamodbav:"c"`
	Until int64  `json:"t" dynamodbav:"t"`
}

// ToRecord returns s as stored, with version.
func ToRecord(s DeviceState, version int64) Record {
	r := Record{Last: s.Last, HasLast: s.HasLast, Recent: s.Recent, Version: version}
	if tp := s.Temp; tp != (TempStats{}) {
		r.Temp = &TempRecord{tp.N, tp.Mean, tp.Var, tp.StuckValue, tp.StuckStart, tp.StuckLast, tp.HasStuck}
	}
	if len(s.Stats) > 0 {
		r.Stats = make(map[string]TempRecord, len(s.Stats))
		for m, tp := range s.Stats {
			r.Stats[m] = TempRecord(*tp)
		}
	}
	for _, z := range s.Snoozes {
		r.Snoozes = append(r.Snoozes, SnoozeRecord(z))
	}
	for _, u := range s.UsedLinks {
		r.Used = append(r.Used, UsedLinkRecord(u))
	}
	if len(s.Rules) > 0 { // an idle device: no empty map
		r.Rules = make(map[string]RuleRecord, len(s.Rules))
		for k, rs := range s.Rules {
			r.Rules[k] = RuleRecord{rs.Flags, rs.LastAt, rs.WarnRun, rs.ViolRun, uint8(rs.Open), rs.OpenStart, rs.LastNotice, rs.OpenID, rs.NoticeID}
		}
	}
	return r
}

// FromRecord returns the state r holds (and nothing of r is shared with it but strings and the
// Recent slice).
func FromRecord(r Record) DeviceState {
	s := DeviceState{Last: r.Last, HasLast: r.HasLast, Recent: r.Recent}
	if tp := r.Temp; tp != nil {
		s.Temp = TempStats{N: tp.N, Mean: tp.Mean, Var: tp.Var, StuckValue: tp.StuckValue, StuckStart: tp.StuckStart, StuckLast: tp.StuckLast, HasStuck: tp.HasStuck}
	}
	if len(r.Stats) > 0 {
		s.Stats = make(map[string]*TempStats, len(r.Stats))
		for m, tp := range r.Stats {
			st := TempStats(tp)
			s.Stats[m] = &st
		}
	}
	for _, z := range r.Snoozes {
		s.Snoozes = append(s.Snoozes, Snooze(z))
	}
	for _, u := range r.Used {
		s.UsedLinks = append(s.UsedLinks, UsedLink(u))
	}
	if len(r.Rules) > 0 {
		s.Rules = make(map[string]*RuleState, len(r.Rules))
		for k, rr := range r.Rules {
			s.Rules[k] = &RuleState{Flags: rr.Flags, LastAt: rr.LastAt, WarnRun: rr.WarnRun, ViolRun: rr.ViolRun,
				Open: Level(rr.Open), OpenStart: rr.OpenStart, LastNotice: rr.Notice, OpenID: rr.OpenID, NoticeID: rr.NoticeID}
		}
	}
	return s
}
