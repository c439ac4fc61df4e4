package reading

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Options carries what the decoder knows besides the message itself.
type Options struct {
	// TopicDevice is the device id of the topic the message was published on ("" when unknown).
	TopicDevice string
	// Arrival is when the pipeline received the message; zero disables the future check
	// (a backtest of history has no arrival time).
	Arrival time.Time
}

// Decoder decodes readings. It keeps no per-message state, only a small cache of device ids so
// that a batch of readings from the same devices does not allocate a string per reading. A Decoder
// is not safe for concurrent use; the zero value is ready.
type Decoder struct {
	devices map[string]string
}

const maxInterned = 4096

func (d *Decoder) intern(b []byte) string {
	if s, ok := d.devices[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.devices == nil || len(d.devices) >= maxInterned {
		d.devices = make(map[string]string, 128)
	}
	d.devices[s] = s
	return s
}

// Decode is a convenience for a one-off decode with a fresh Decoder.
func Decode(data []byte, opts Options) (Reading, error) {
	var d Decoder
	return d.Decode(data, opts)
}

// value kinds seen by the scanner for the fields the contract names.
const (
	kindAbsent = iota
	kindNull
	kindString
	kindNumber
	kindOther // object, array, true, false
)

type field struct {
	kind    uint8
	escaped bool   // string with escape sequences (raw must be unescaped)
	raw     []byte // string contents without quotes, or the number's text
}

type fields struct {
	deviceID, eventTime, msgID field
	metrics                    [NumMetrics]field
}

// Decode validates data and returns the reading, or a *Rejection naming the first failed check.
func (d *Decoder) Decode(data []byte, opts Options) (Reading, error) {
	if len(data) > MaxSize {
		return Reading{}, reject(TooLarge, "message is %d bytes, the limit is %d", len(data), MaxSize)
	}
	var f fields
	s := scanner{b: data}
	if err := s.object(&f); err != "" {
		return Reading{}, &Rejection{Reason: MalformedJSON, Detail: err + " at byte " + strconv.Itoa(s.i)}
	}
	return d.validate(&f, opts)
}

func (d *Decoder) validate(f *fields, opts Options) (Reading, error) {
	var r Reading

	// device_id
	switch f.deviceID.kind {
	case kindAbsent, kindNull:
		return r, reject(MissingDeviceID, "device_id is missing")
	case kindString:
		raw := f.deviceID.raw
		if f.deviceID.escaped {
			raw = []byte(unescape(raw))
		}
		if !ValidDeviceID(unsafe.String(unsafe.SliceData(raw), len(raw))) {
			return r, reject(BadDeviceID, "device_id %q does not match %s", raw, DeviceIDPattern)
		}
		r.DeviceID = d.intern(raw)
	default:
		return r, reject(BadDeviceID, "device_id is not a string")
	}
	if opts.TopicDevice != "" && opts.TopicDevice != r.DeviceID {
		return r, reject(DeviceMismatch, "device_id %q was published on the topic of device %q", r.DeviceID, opts.TopicDevice)
	}

	// event_time
	switch f.eventTime.kind {
	case kindAbsent, kindNull:
		return r, reject(MissingEventTim, "event_time is missing")
	case kindString:
		raw := f.eventTime.raw
		if f.eventTime.escaped {
			raw = []byte(unescape(raw))
		}
		t, ok := ParseTime(raw)
		if !ok {
			return r, reject(BadEventTime, "event_time %q is not RFC 3339 with a zone (2006-01-02T15:04:05Z or +hh:mm)", raw)
		}
		if !opts.Arrival.IsZero() && t.Sub(opts.Arrival) > MaxFutureSkew {
			return r, reject(FutureEventTime, "event_time %s is %s ahead of arrival %s (limit %s)",
				t.Format(time.RFC3339Nano), t.Sub(opts.Arrival).Round(time.Second), opts.Arrival.UTC().Format(time.RFC3339), MaxFutureSkew)
		}
		r.EventTime = t
	default:
		return r, reject(BadEventTime, "event_time is not a string")
	}

	// msg_id
	switch f.msgID.kind {
	case kindAbsent, kindNull:
	case kindString:
		id := string(f.msgID.raw)
		if f.msgID.escaped {
			id = unescape(f.msgID.raw)
		}
		if n := utf8.RuneCountInString(id); n > MaxMsgIDLen {
			return r, reject(BadMsgID, "msg_id is %d characters, the limit is %d", n, MaxMsgIDLen)
		}
		r.MsgID = id
	default:
		return r, reject(BadMsgID, "msg_id is not a string")
	}

	// metrics: presence first, then type, then range.
	any := false
	for m := Metric(0); m < NumMetrics; m++ {
		if f.metrics[m].kind != kindAbsent {
			any = true
			break
		}
	}
	if !any {
		return r, reject(NoMetrics, "no metric present (temperature, humidity, light, co2, humidity_ratio, occupancy)")
	}
	for m := Metric(0); m < NumMetrics; m++ {
		fm := &f.metrics[m]
		switch fm.kind {
		case kindAbsent:
			continue
		case kindNumber:
			v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(fm.raw), len(fm.raw)), 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return r, reject(BadMetric, "%s %s is not a finite number", m, fm.raw)
			}
			r.values[m] = v
			r.present |= 1 << m
		case kindNull:
			return r, reject(BadMetric, "%s is null; leave the field out when there is no value", m)
		default:
			return r, reject(BadMetric, "%s is not a number", m)
		}
	}
	for m := Metric(0); m < NumMetrics; m++ {
		v, ok := r.Value(m)
		if !ok {
			continue
		}
		lim := metricRange[m]
		if v < lim[0] || v > lim[1] {
			return r, reject(OutOfRange, "%s %g is outside [%g, %g]", m, v, lim[0], lim[1])
		}
		if m == Occupancy && v != 0 && v != 1 {
			return r, reject(OutOfRange, "occupancy %g is neither 0 nor 1", v)
		}
	}
	return r, nil
}

// unescape decodes the contents of a JSON string that contains escape sequences. The scanner has
// already validated it, so the slow, exact path of encoding/json is fine for this rare case.
func unescape(raw []byte) string {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return string(raw)
	}
	return s
}

// scanner is a strict JSON scanner for one top-level object. Methods return "" or what is wrong.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) object(f *fields) string {
	s.ws()
	if s.i >= len(s.b) {
		return "empty message"
	}
	if s.b[s.i] != '{' {
		return "a reading must be a JSON object"
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
	} else {
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return "expected a field name"
			}
			key, escaped, err := s.str()
			if err != "" {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return "expected ':'"
			}
			s.i++
			s.ws()
			target := f.target(key, escaped)
			if err := s.value(target); err != "" {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return "unterminated object"
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == '}' {
				s.i++
				break
			}
			return "expected ',' or '}'"
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return "data after the object"
	}
	return ""
}

// target returns where a top-level field's value goes, or nil for a field the contract ignores.
func (f *fields) target(key []byte, escaped bool) *field {
	k := unsafe.String(unsafe.SliceData(key), len(key))
	if escaped {
		k = unescape(key)
	}
	switch k {
	case "device_id":
		return &f.deviceID
	case "event_time":
		return &f.eventTime
	case "msg_id":
		return &f.msgID
	case "temperature":
		return &f.metrics[Temperature]
	case "humidity":
		return &f.metrics[Humidity]
	case "light":
		return &f.metrics[Light]
	case "co2":
		return &f.metrics[CO2]
	case "humidity_ratio":
		return &f.metrics[HumidityRatio]
	case "occupancy":
		return &f.metrics[Occupancy]
	}
	return nil
}

// value scans one value; when into is not nil it records the value's kind and text there
// (a repeated field keeps its last value, as encoding/json does).
func (s *scanner) value(into *field) string {
	if s.i >= len(s.b) {
		return "expected a value"
	}
	var kind uint8
	var raw []byte
	var escaped bool
	switch c := s.b[s.i]; {
	case c == '"':
		var err string
		raw, escaped, err = s.str()
		if err != "" {
			return err
		}
		kind = kindString
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.number(); err != "" {
			return err
		}
		raw, kind = s.b[start:s.i], kindNumber
	case c == '{':
		if err := s.skipComposite('{', '}'); err != "" {
			return err
		}
		kind = kindOther
	case c == '[':
		if err := s.skipComposite('[', ']'); err != "" {
			return err
		}
		kind = kindOther
	case c == 't':
		if !s.literal("true") {
			return "invalid literal"
		}
		kind = kindOther
	case c == 'f':
		if !s.literal("false") {
			return "invalid literal"
		}
		kind = kindOther
	case c == 'n':
		if !s.literal("null") {
			return "invalid literal"
		}
		kind = kindNull
	default:
		return "invalid character " + strconv.QuoteRuneToASCII(rune(c)) + " looking for a value"
	}
	if into != nil {
		*into = field{kind: kind, escaped: escaped, raw: raw}
	}
	return ""
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// skipComposite validates an object or array without keeping anything of it.
func (s *scanner) skipComposite(open, close byte) string {
	s.i++ // open
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == close {
		s.i++
		return ""
	}
	for {
		s.ws()
		if open == '{' {
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return "expected a field name"
			}
			if _, _, err := s.str(); err != "" {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return "expected ':'"
			}
			s.i++
			s.ws()
		}
		if err := s.value(nil); err != "" {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			if open == '{' {
				return "unterminated object"
			}
			return "unterminated array"
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.b[s.i] == close {
			s.i++
			return ""
		}
		return "expected ',' or '" + string(close) + "'"
	}
}

// str scans a string starting at its opening quote and returns its raw contents.
func (s *scanner) str() (raw []byte, escaped bool, err string) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, ""
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, "unterminated string"
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return nil, false, "bad \\u escape"
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, "bad \\u escape"
					}
				}
				s.i += 5
			default:
				return nil, false, "bad escape in string"
			}
		case c < 0x20:
			return nil, false, "control character in string"
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, "invalid UTF-8 in string"
			}
			s.i += size
		}
	}
	return nil, false, "unterminated string"
}

// number scans -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *scanner) number() string {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return "bad number"
	}
	switch c := s.b[s.i]; {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return "bad number"
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return "bad number: no digits after '.'"
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return "bad number: no digits in exponent"
		}
	}
	return ""
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
