package filestore

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
)

// appendRecord appends the JSON of a journal record, byte for byte what encoding/json writes
// (TestRecordEncodingIsEncodingJSONs checks it over random states), about three times faster (BenchmarkRecordEncoding): the
// states of every batch are encoded, and this was most of the file store's time.
func appendRecord(b []byte, r *journalRecord) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"state":`...)
	return appendState(b, &r.State)
}

// object writes a JSON object's members, a comma before each but the first.
type object struct {
	b []byte
	n int // len(b) after the '{'
}

func openObject(b []byte) object {
	b = append(b, '{')
	return object{b: b, n: len(b)}
}

// key starts a member whose name is a field's (plain ASCII, written as it is).
func (o *object) key(name string) {
	if len(o.b) > o.n {
		o.b = append(o.b, ',')
	}
	o.b = append(append(append(o.b, '"'), name...), '"', ':')
}

// mapKey starts a member whose name is a map's key, quoted as encoding/json quotes it.
func (o *object) mapKey(k string) {
	if len(o.b) > o.n {
		o.b = append(o.b, ',')
	}
	o.b = append(appendString(o.b, k), ':')
}

func (o *object) int(name string, v int64) {
	if v != 0 {
		o.key(name)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func (o *object) str(name, v string) {
	if v != "" {
		o.key(name)
		o.b = appendString(o.b, v)
	}
}

func (o *object) close() []byte { return append(o.b, '}') }

func appendState(b []byte, f *alarm.Record) ([]byte, error) {
	o := openObject(b)
	o.int("last", f.Last)
	if f.HasLast {
		o.key("has_last")
		o.b = append(o.b, "true"...)
	}
	if len(f.Recent) > 0 {
		o.key("recent")
		o.b = append(o.b, '[')
		for i, s := range f.Recent {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendString(o.b, s)
		}
		o.b = append(o.b, ']')
	}
	if len(f.Rules) > 0 {
		o.key("rules")
		o.b, _ = appendMap(o.b, f.Rules, func(b []byte, r alarm.RuleRecord) ([]byte, error) { return appendRule(b, r), nil })
	}
	if t := f.Temp; t != nil {
		o.key("temp")
		var err error
		if o.b, err = appendTemp(o.b, t); err != nil {
			return nil, err
		}
	}
	if len(f.Stats) > 0 {
		o.key("ms")
		var err error
		if o.b, err = appendMap(o.b, f.Stats, func(b []byte, t alarm.TempRecord) ([]byte, error) { return appendTemp(b, &t) }); err != nil {
			return nil, err
		}
	}
	if len(f.Snoozes) > 0 {
		o.key("snz")
		o.b = append(o.b, '[')
		for i, z := range f.Snoozes {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			m := openObject(o.b)
			m.key("u")
			m.b = appendString(m.b, z.User)
			m.str("r", z.Rule)
			m.key("t")
			m.b = strconv.AppendInt(m.b, z.Until, 10)
			m.str("k", z.Token)
			o.b = m.close()
		}
		o.b = append(o.b, ']')
	}
	if len(f.Used) > 0 {
		o.key("ul")
		o.b = append(o.b, '[')
		for i, u := range f.Used {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			m := openObject(o.b)
			m.key("c")
			m.b = appendString(m.b, u.Code)
			m.key("t")
			m.b = strconv.AppendInt(m.b, u.Until, 10)
			o.b = m.close()
		}
		o.b = append(o.b, ']')
	}
	o.int("version", f.Version)
	return append(o.close(), '}'), nil // the state's, the record's
}

func appendRule(b []byte, r alarm.RuleRecord) []byte {
	o := openObject(b)
	o.int("f", int64(r.Flags))
	o.int("l", r.LastAt)
	o.int("w", r.WarnRun)
	o.int("v", r.ViolRun)
	o.int("o", int64(r.Open))
	o.int("os", r.OpenStart)
	o.int("n", r.Notice)
	o.str("oi", r.OpenID)
	o.str("ni", r.NoticeID)
	return o.close()
}

func appendTemp(b []byte, t *alarm.TempRecord) ([]byte, error) {
	o := openObject(b)
	o.int("n", t.N)
	for _, x := range [...]struct {
		name string
		v    float64
	}{{"m", t.Mean}, {"v", t.Var}, {"sv", t.StuckValue}} {
		if x.v != 0 {
			if math.IsNaN(x.v) || math.IsInf(x.v, 0) {
				_, err := json.Marshal(x.v) // encoding/json's error
				return nil, err
			}
			o.key(x.name)
			o.b = appendFloat(o.b, x.v)
		}
	}
	o.int("ss", t.StuckStart)
	o.int("sl", t.StuckLast)
	if t.HasStuck {
		o.key("s")
		o.b = append(o.b, "true"...)
	}
	return o.close(), nil
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

// appendMap appends a JSON object of m's members, by key as encoding/json orders them, each
// value written by value.
func appendMap[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := openObject(b)
	for _, k := range keys {
		o.mapKey(k)
		var err error
		if o.b, err = value(o.b, m[k]); err != nil {
			return nil, err
		}
	}
	return o.close(), nil
}
