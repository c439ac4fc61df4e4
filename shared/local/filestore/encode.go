package filestore

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// appendRecord appends the JSON of a journal record, byte for byte what encoding/json writes
// (TestRecordEncodingIsEncodingJSONs checks it over random states), four times faster: the
// states of every batch are encoded, and this was most of the file store's time.
func appendRecord(b []byte, r *journalRecord) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"state":`...)
	return appendState(b, &r.State)
}

func appendState(b []byte, f *stateFile) ([]byte, error) {
	b = append(b, '{')
	n := len(b)
	sep := func() {
		if len(b) > n {
			b = append(b, ',')
		}
	}
	if f.Last != 0 {
		sep()
		b = strconv.AppendInt(append(b, `"last":`...), f.Last, 10)
	}
	if f.HasLast {
		sep()
		b = append(b, `"has_last":true`...)
	}
	if len(f.Recent) > 0 {
		sep()
		b = append(b, `"recent":[`...)
		for i, s := range f.Recent {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	if len(f.Rules) > 0 {
		sep()
		b = append(b, `"rules":{`...)
		keys := make([]string, 0, len(f.Rules))
		for k := range f.Rules {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendString(b, k), ':')
			b = appendRule(b, f.Rules[k])
		}
		b = append(b, '}')
	}
	if t := f.Temp; t != nil {
		sep()
		var err error
		if b, err = appendTemp(append(b, `"temp":`...), t); err != nil {
			return nil, err
		}
	}
	if len(f.Snoozes) > 0 {
		sep()
		b = append(b, `"snz":[`...)
		for i, z := range f.Snoozes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(append(b, `{"u":`...), z.User)
			if z.Rule != "" {
				b = appendString(append(b, `,"r":`...), z.Rule)
			}
			b = strconv.AppendInt(append(b, `,"t":`...), z.Until, 10)
			if z.Token != "" {
				b = appendString(append(b, `,"k":`...), z.Token)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(f.Used) > 0 {
		sep()
		b = append(b, `"ul":[`...)
		for i, u := range f.Used {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(append(b, `{"c":`...), u.Code)
			b = append(strconv.AppendInt(append(b, `,"t":`...), u.Until, 10), '}')
		}
		b = append(b, ']')
	}
	if f.Version != 0 {
		sep()
		b = strconv.AppendInt(append(b, `"version":`...), f.Version, 10)
	}
	return append(b, '}', '}'), nil // the state's, the record's
}

func appendRule(b []byte, r ruleState) []byte {
	b = append(b, '{')
	n := len(b)
	field := func(name string) {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), name...), '"', ':')
	}
	if r.Flags != 0 {
		field("f")
		b = strconv.AppendUint(b, uint64(r.Flags), 10)
	}
	for _, x := range [...]struct {
		name string
		v    int64
	}{{"l", r.LastAt}, {"w", r.WarnRun}, {"v", r.ViolRun}} {
		if x.v != 0 {
			field(x.name)
			b = strconv.AppendInt(b, x.v, 10)
		}
	}
	if r.Open != 0 {
		field("o")
		b = strconv.AppendUint(b, uint64(r.Open), 10)
	}
	if r.OpenStart != 0 {
		field("os")
		b = strconv.AppendInt(b, r.OpenStart, 10)
	}
	if r.Notice != 0 {
		field("n")
		b = strconv.AppendInt(b, r.Notice, 10)
	}
	if r.OpenID != "" {
		field("oi")
		b = appendString(b, r.OpenID)
	}
	if r.NoticeID != "" {
		field("ni")
		b = appendString(b, r.NoticeID)
	}
	return append(b, '}')
}

func appendTemp(b []byte, t *tempState) ([]byte, error) {
	b = append(b, '{')
	n := len(b)
	field := func(name string) {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), name...), '"', ':')
	}
	if t.N != 0 {
		field("n")
		b = strconv.AppendInt(b, t.N, 10)
	}
	for _, x := range [...]struct {
		name string
		v    float64
	}{{"m", t.Mean}, {"v", t.Var}, {"sv", t.StuckValue}} {
		if x.v != 0 {
			if math.IsNaN(x.v) || math.IsInf(x.v, 0) {
				_, err := json.Marshal(x.v) // encoding/json's error
				return nil, err
			}
			field(x.name)
			b = appendFloat(b, x.v)
		}
	}
	if t.StuckStart != 0 {
		field("ss")
		b = strconv.AppendInt(b, t.StuckStart, 10)
	}
	if t.StuckLast != 0 {
		field("sl")
		b = strconv.AppendInt(b, t.StuckLast, 10)
	}
	if t.HasStuck {
		field("s")
		b = append(b, "true"...)
	}
	return append(b, '}'), nil
}

// appendFloat is encoding/json's float64 format.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString quotes s as encoding/json does: plain printable ASCII as it is, anything else
// through encoding/json itself (escapes, HTML-safe characters, invalid UTF-8).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
