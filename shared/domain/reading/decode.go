package reading

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"strings"
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

// Decoder decodes readings. What it keeps from message to message only makes the next one
// cheaper, never different: a small cache of device ids (a batch of readings from the same
// devices does not allocate a string per reading) and the keys of the last message (shape.go). A
// Decoder is not safe for concurrent use; the zero value is ready.
type Decoder struct {
	devices map[string]string
	// Alias lets a Reading's MsgID and DeviceID refer to the message bytes instead of copies: the
	// caller must then keep the bytes unchanged for as long as it uses the reading, and copy what
	// it keeps longer (the evaluate handler does, for the length of a batch; a reader that reuses
	// its line buffer must not set it).
	Alias bool
	// Catalog declares the metrics beyond the built-ins the decoder validates and keeps (nil:
	// the built-ins only). Set it before decoding; readings belong to the catalog they were
	// decoded with (their declared metrics are its Metric values).
	Catalog *Catalog

	decl  []field   // the declared metrics' fields of the message being decoded, cleared after it
	arena []float64 // where readings' declared values are kept, a chunk at a time

	batch batch // where a batched message's elements are scanned

	shapes [2]shape // the keys of the last message and the last element scanned (shape.go)
}

// Lend gives the decoder room to keep readings' declared values in before it allocates any: a
// caller that decodes batches and drops their readings after each (the evaluator) lends the same
// room to each batch's decoder. The readings decoded refer to it: the caller must not lend it
// again, or change it, while it uses them.
func (d *Decoder) Lend(room []float64) { d.arena = room[:0] }

// keep returns n float64s for a reading's declared values: slices of a chunk that is never
// reused (but a lent one, see Lend), so a reading stays valid however long it is kept.
func (d *Decoder) keep(n int) []float64 {
	if cap(d.arena)-len(d.arena) < n {
		d.arena = make([]float64, 0, max(1024, n))
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
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
	kindArray // a batched message's readings array (other arrays are kindOther)
)

// field is where a value the contract names was seen. It holds offsets, not slices, so that
// recording one is a small pointer-free copy.
type field struct {
	kind       uint8
	escaped    bool   // string with escape sequences (its text must be unescaped)
	start, end int32  // string contents without quotes, or the number's text, in the message
	num        number // a number's digits, gathered while scanning
}

// number is what the scanner gathers of a JSON number on its way through: enough for the exact
// fast path of number.value, or fast=false when strconv must decide.
type number struct {
	mant uint64
	frac int16
	neg  bool
	// fast: the number takes Clinger's fast path (number.value): no exponent, at most 19
	// digits, a mantissa up to 2^53 and at most 22 fraction digits.
	fast bool
}

type fields struct {
	deviceID, eventTime, msgID field
	readings                   field // a batched message's array (in an element: a field like any)
	metrics                    [NumMetrics]field
	others                     []string            // the names of the other top-level fields, to find a repeat
	seen                       map[string]struct{} // the same, once there are many
	cat                        *Catalog            // declared metrics (nil: none)
	decl                       []field             // the declared metrics' fields, by catalog index
	declSeen                   uint64              // bit i: decl[i] was seen
	repeated                   string              // an element's first repeated name ("": none)
}

// Decode validates data and returns the reading, or a *Rejection naming the first failed check.
func (d *Decoder) Decode(data []byte, opts Options) (Reading, error) {
	var r Reading
	err := d.DecodeInto(&r, data, opts)
	return r, err
}

// DecodeInto is Decode writing the reading into *r (which it overwrites whole), for callers that
// keep readings in a slice: a reading is 120 bytes, copied twice more on the way out of Decode.
// On an error *r holds what was decoded before the failed check.
//
// Decode and DecodeInto take single readings: a batched message (one with a top-level readings
// field) is rejected whole as DecodeMessage would reject it, and when DecodeMessage would not,
// as bad_batch all the same (its detail says so): a caller that takes batches calls DecodeMessage.
func (d *Decoder) DecodeInto(r *Reading, data []byte, opts Options) error {
	*r = Reading{}
	var f fields
	if d.withCatalog(&f) {
		defer f.clearDeclared()
	}
	s := scanner{b: data, lineBreak: -1, batch: &d.batch, shapes: d.readyShapes()}
	if err := s.message(&f); err != nil {
		return err
	}
	if f.readings.kind != kindAbsent {
		if err := d.batchWhole(r, data, &s, &f, opts); err != nil {
			return err
		}
		*r = Reading{}
		return reject(BadBatch, "a batched message of %d readings: DecodeMessage decodes it, Decode takes single readings", d.batch.elems)
	}
	return d.validate(r, data, &f, opts)
}

// DecodeMessage decodes a message in either form (DESIGN.md, "Reading" and "Batched messages")
// and appends its readings to dst, in the message's order. A single reading gives one reading or
// err, exactly as DecodeInto. A batched message (a top-level readings field) is checked whole
// first (too_large, malformed_json, the device checks, bad_batch: err, nothing appended); then
// each element is validated as the single message {"device_id":<the message's>, <its fields>}
// would be, and is appended, or reported in bad with its index (array order) while the others are
// kept. An element may carry device_id: anything but the message's device there is
// device_mismatch (null, a number, an invalid id included); a name repeated in an element makes
// it malformed_json alone; a readings field in an element is bad_batch for it (batches do not
// nest). An element's unknown fields are ignored, as a single message's are.
func (d *Decoder) DecodeMessage(data []byte, opts Options, dst []Reading) (readings []Reading, bad []ElementRejection, err error) {
	var f fields
	if d.withCatalog(&f) {
		defer f.clearDeclared()
	}
	s := scanner{b: data, lineBreak: -1, batch: &d.batch, shapes: d.readyShapes()}
	if err := s.message(&f); err != nil {
		return dst, nil, err
	}
	n := len(dst)
	if f.readings.kind == kindAbsent {
		dst = append(dst, Reading{})
		if err := d.validate(&dst[n], data, &f, opts); err != nil {
			dst[n] = Reading{}
			return dst[:n], nil, err
		}
		return dst, nil, nil
	}
	var top Reading
	if err := d.batchWhole(&top, data, &s, &f, opts); err != nil {
		return dst, nil, err
	}
	for i := range d.batch.elems {
		dst = append(dst, Reading{})
		r := &dst[len(dst)-1]
		if err := d.element(r, data, &d.batch.slots[i], top.DeviceID, opts); err != nil {
			*r = Reading{}
			dst = dst[:len(dst)-1]
			bad = append(bad, ElementRejection{Index: i, Rejection: *err})
		}
	}
	return dst, bad, nil
}

// withCatalog readies f for the declared metrics of d.Catalog (the decoder's fields for them,
// which the caller clears after the message: f.clearDeclared); false when it declares none.
func (d *Decoder) withCatalog(f *fields) bool {
	n := d.Catalog.Len()
	if n == 0 {
		return false
	}
	if len(d.decl) != n {
		d.decl = make([]field, n)
	}
	f.cat, f.decl = d.Catalog, d.decl
	return true
}

// message checks the message's size and scans it into f (a batched message's elements into
// s.batch), refusing what is not one JSON object on one line.
func (s *scanner) message(f *fields) *Rejection {
	data := s.b
	if len(data) > MaxSize {
		return reject(TooLarge, "message is %d bytes, the limit is %d", len(data), MaxSize)
	}
	// The lake keeps one message a line (bronze is JSON lines, read line by line by Athena and
	// DuckDB): a line break inside a message, even as JSON whitespace, would split it there. Line
	// ends after it are a delimiter's, not the message's (lake.LineMD5 leaves them out too).
	// The check rides on the scanner (its whitespace is the only place an accepted message can
	// hold a line break), not on a pass of its own over the bytes: a tenth of an evaluation.
	err := s.object(f)
	end := len(trimLineEnds(data))
	switch {
	case err != "" && lineBreak(data[:end]) >= 0, err == "" && s.lineBreak >= 0 && s.lineBreak < end:
		return reject(MalformedJSON, "a line break inside the message at byte %d: the lake keeps one message a line (send compact JSON)", lineBreak(data[:end]))
	case err != "":
		return &Rejection{Reason: MalformedJSON, Detail: err + " at byte " + strconv.Itoa(s.i)}
	}
	return nil
}

// batchWhole makes the checks of a batched message that reject it whole, after its JSON's: the
// device (into top.DeviceID) and its shape (bad_batch).
func (d *Decoder) batchWhole(top *Reading, data []byte, s *scanner, f *fields, opts Options) *Rejection {
	if err := d.device(top, data, f, opts); err != nil {
		return err
	}
	const beside = "%s beside readings: each reading of a batched message carries its own"
	switch {
	case f.eventTime.kind != kindAbsent:
		return reject(BadBatch, beside, "event_time")
	case f.msgID.kind != kindAbsent:
		return reject(BadBatch, beside, "msg_id")
	}
	for m := Metric(0); m < NumMetrics; m++ {
		if f.metrics[m].kind != kindAbsent {
			return reject(BadBatch, beside, m)
		}
	}
	if f.declSeen != 0 {
		return reject(BadBatch, beside, d.Catalog.Name(NumMetrics+Metric(bits.TrailingZeros64(f.declSeen))))
	}
	switch {
	case f.readings.kind != kindArray:
		return reject(BadBatch, "readings is not an array of readings")
	case s.batch.elems == 0:
		return reject(BadBatch, "readings is empty")
	case s.batch.nonObject != 0:
		return reject(BadBatch, "element %d of readings is not an object", s.batch.nonObject-1)
	case s.batch.elems > MaxBatch:
		return reject(BadBatch, "readings has %d elements, the limit is %d", s.batch.elems, MaxBatch)
	}
	return nil
}

// element validates one element of a batched message, e, into r: as the single message of the
// message's device and the element's fields.
func (d *Decoder) element(r *Reading, data []byte, e *fields, device string, opts Options) *Rejection {
	if e.repeated != "" {
		return reject(MalformedJSON, "field %q appears twice in the element", e.repeated)
	}
	switch e.deviceID.kind {
	case kindAbsent:
	case kindString:
		raw := data[e.deviceID.start:e.deviceID.end]
		if e.deviceID.escaped {
			raw = []byte(unescape(raw))
		}
		if unsafe.String(unsafe.SliceData(raw), len(raw)) != device {
			return reject(DeviceMismatch, "the element's device_id %q is not the message's %q", raw, device)
		}
	default:
		return reject(DeviceMismatch, "the element's device_id is not a string (the message's is %q)", device)
	}
	if e.readings.kind != kindAbsent {
		return reject(BadBatch, "an element carries readings: batched messages do not nest")
	}
	r.DeviceID = device
	return d.reading(r, data, e, opts)
}

// trimLineEnds is bytes.TrimRight(b, "\r\n") without building its set at each call.
func trimLineEnds(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// lineBreak is the index of the first CR or LF in b, or -1: bytes.IndexByte twice (vectorized)
// rather than bytes.IndexAny's byte-by-byte set lookup, which was a tenth of an evaluation.
func lineBreak(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// validate checks a single message's fields, f, in the order of Reasons, into r.
func (d *Decoder) validate(r *Reading, data []byte, f *fields, opts Options) error {
	if err := d.device(r, data, f, opts); err != nil {
		return err
	}
	if err := d.reading(r, data, f, opts); err != nil {
		return err
	}
	return nil
}

// device checks device_id, and sets r.DeviceID.
func (d *Decoder) device(r *Reading, data []byte, f *fields, opts Options) *Rejection {
	switch f.deviceID.kind {
	case kindAbsent, kindNull:
		return reject(MissingDeviceID, "device_id is missing")
	case kindString:
		raw := data[f.deviceID.start:f.deviceID.end]
		if f.deviceID.escaped {
			raw = []byte(unescape(raw))
		}
		if !ValidDeviceID(unsafe.String(unsafe.SliceData(raw), len(raw))) {
			return reject(BadDeviceID, "device_id %q does not match %s", raw, DeviceIDPattern)
		}
		if d.Alias && !f.deviceID.escaped {
			r.DeviceID = unsafe.String(unsafe.SliceData(raw), len(raw))
		} else {
			r.DeviceID = d.intern(raw)
		}
	default:
		return reject(BadDeviceID, "device_id is not a string")
	}
	if opts.TopicDevice != "" && opts.TopicDevice != r.DeviceID {
		return reject(DeviceMismatch, "device_id %q was published on the topic of device %q", r.DeviceID, opts.TopicDevice)
	}
	return nil
}

// reading checks the fields of a reading but device_id (event_time, msg_id, metrics) into r.
func (d *Decoder) reading(r *Reading, data []byte, f *fields, opts Options) *Rejection {
	// event_time
	switch f.eventTime.kind {
	case kindAbsent, kindNull:
		return reject(MissingEventTim, "event_time is missing")
	case kindString:
		raw := data[f.eventTime.start:f.eventTime.end]
		if f.eventTime.escaped {
			raw = []byte(unescape(raw))
		}
		t, ok := ParseTime(raw)
		if !ok {
			return reject(BadEventTime, "event_time %q is not RFC 3339 with a zone (2006-01-02T15:04:05Z or +hh:mm)", raw)
		}
		if t.Before(MinEventTime) || !t.Before(MaxEventTime) {
			return reject(BadEventTime, "event_time %s is outside [%s, %s): a device clock fault",
				t.Format(time.RFC3339Nano), MinEventTime.Format(time.RFC3339), MaxEventTime.Format(time.RFC3339))
		}
		if !opts.Arrival.IsZero() && t.Sub(opts.Arrival) > MaxFutureSkew {
			return reject(FutureEventTime, "event_time %s is %s ahead of arrival %s (limit %s)",
				t.Format(time.RFC3339Nano), t.Sub(opts.Arrival).Round(time.Second), opts.Arrival.UTC().Format(time.RFC3339), MaxFutureSkew)
		}
		r.EventTime = t
	default:
		return reject(BadEventTime, "event_time is not a string")
	}

	// msg_id
	switch f.msgID.kind {
	case kindAbsent, kindNull:
	case kindString:
		raw := data[f.msgID.start:f.msgID.end]
		var id string
		switch {
		case f.msgID.escaped:
			id = unescape(raw)
		case d.Alias:
			id = unsafe.String(unsafe.SliceData(raw), len(raw))
		default:
			id = string(raw)
		}
		if n := len(id); n > MaxMsgIDLen && utf8.RuneCountInString(id) > MaxMsgIDLen {
			n = utf8.RuneCountInString(id)
			return reject(BadMsgID, "msg_id is %d characters, the limit is %d", n, MaxMsgIDLen)
		}
		r.MsgID = id
		r.idDigest = Identity{MsgID: id}.Digest() // now, while the bytes are in the cache
	default:
		return reject(BadMsgID, "msg_id is not a string")
	}

	// metrics: presence first, then type, then range; the built-ins in contract order, then the
	// declared metrics in catalog order.
	any := f.declSeen != 0
	for m := Metric(0); m < NumMetrics && !any; m++ {
		any = f.metrics[m].kind != kindAbsent
	}
	if !any {
		return reject(NoMetrics, "no metric present (%s)", d.Catalog.names())
	}
	for m := Metric(0); m < NumMetrics; m++ {
		fm := &f.metrics[m]
		switch fm.kind {
		case kindAbsent:
			continue
		case kindNumber: // the common case inline: a call a metric was a tenth of decoding
			if fm.num.fast { // finite: at most 2^53 over a power of ten
				r.values[m] = fm.num.exact()
				r.present |= 1 << m
				continue
			}
		}
		if err := r.number(m, fm, data, d.Catalog); err != nil {
			return err
		}
	}
	if f.declSeen != 0 {
		r.more = d.keep(len(f.decl))
		for seen := f.declSeen; seen != 0; seen &= seen - 1 {
			i := bits.TrailingZeros64(seen)
			fm := &f.decl[i]
			if fm.kind == kindNumber && fm.num.fast { // the common case inline, as the built-ins'
				r.more[i] = fm.num.exact()
				r.present |= 1 << (NumMetrics + Metric(i))
				continue
			}
			if err := r.number(NumMetrics+Metric(i), fm, data, d.Catalog); err != nil {
				return err
			}
		}
	}
	for present := r.present & (1<<NumMetrics - 1); present != 0; present &= present - 1 {
		m := Metric(bits.TrailingZeros64(present))
		v, lim := r.values[m], &metricRange[m]
		if v < lim[0] || v > lim[1] {
			return reject(OutOfRange, "%s %g is outside [%g, %g]", m, v, lim[0], lim[1])
		}
		if m == Occupancy && v != 0 && v != 1 {
			return reject(OutOfRange, "occupancy %g is neither 0 nor 1", v)
		}
	}
	for present := r.present >> NumMetrics; present != 0; present &= present - 1 {
		i := bits.TrailingZeros64(present)
		if v, lim := r.more[i], &d.Catalog.bounds[i]; v < lim[0] || v > lim[1] {
			return reject(OutOfRange, "%s %g is outside [%g, %g]", d.Catalog.Name(NumMetrics+Metric(i)), v, lim[0], lim[1])
		}
	}
	return nil
}

// number reads metric m's field fm into r: a finite JSON number, else bad_metric.
func (r *Reading) number(m Metric, fm *field, data []byte, cat *Catalog) *Rejection {
	switch fm.kind {
	case kindAbsent:
		return nil
	case kindNumber:
		raw := data[fm.start:fm.end]
		v, err := fm.num.value(raw)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return reject(BadMetric, "%s %s is not a finite number", cat.Name(m), raw)
		}
		if m < NumMetrics {
			r.values[m] = v
		} else {
			r.more[m-NumMetrics] = v
		}
		r.present |= 1 << m
		return nil
	case kindNull:
		return reject(BadMetric, "%s is null; leave the field out when there is no value", cat.Name(m))
	}
	return reject(BadMetric, "%s is not a number", cat.Name(m))
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
	// lineBreak is where ws first skipped a CR or LF (-1: nowhere). Only whitespace can hold
	// one in a message the scanner accepts (in a string it is a control character, refused).
	lineBreak int

	// batch is where a batched message's readings are scanned (nil: nowhere, a readings array
	// is only checked).
	batch *batch

	// shapes are the keys the decoder saw last, the message's and an element's (nil: none kept).
	shapes *[2]shape
}

// batch is what the scanner keeps of a batched message's readings array: its first len(slots)
// elements that are objects, each in the slot of its index (the others are only checked); how
// many elements it holds, and 1 + the index of the first that is not an object (0: none).
type batch struct {
	slots     []fields
	elems     int
	nonObject int
	cat       *Catalog // the catalog of the slots' declared fields (made: slots not nil)
	made      bool     // slots are MaxBatch slots the batch made (not given, as PartitionHour's)
}

// ready makes the slots of a Decoder's batch when it has none, or none for catalog cat: MaxBatch
// of them, each with its declared fields (an element's are cleared when its slot is taken again).
func (b *batch) ready(cat *Catalog) {
	if b.slots != nil && (b.cat == cat || !b.made) {
		return
	}
	b.slots, b.cat, b.made = make([]fields, MaxBatch), cat, true
	if n := cat.Len(); n > 0 {
		decl := make([]field, n*MaxBatch)
		for i := range b.slots {
			b.slots[i].cat, b.slots[i].decl = cat, decl[i*n:(i+1)*n:(i+1)*n]
		}
	}
}

var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *scanner) ws() {
	for s.i < len(s.b) && s.b[s.i] <= ' ' && space[s.b[s.i]] {
		if c := s.b[s.i]; (c == '\n' || c == '\r') && s.lineBreak < 0 {
			s.lineBreak = s.i
		}
		s.i++
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
	if err := s.members(f, true); err != "" {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return "data after the object"
	}
	return ""
}

// members scans an object from its '{' into f: the message's (top: a repeated name ends the
// scan, a readings array's elements go to s.batch) or an element's of a batched message (a
// repeated name is kept in f.repeated and the scan goes on: it rejects that element alone).
func (s *scanner) members(f *fields, top bool) string {
	// Whitespace is skipped only where the byte expected is not there: compact JSON has none,
	// and a skip that finds none cost a tenth of a decoding.
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return ""
	}
	var sh *shape
	if s.shapes != nil {
		sh = &s.shapes[0]
		if !top {
			sh = &s.shapes[1]
		}
	}
	for j := 0; ; j++ {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return "expected a field name"
			}
		}
		var target *field
		var repeated bool
		var key []byte
		var err string
		if k := sh.key(j); k != nil && k.starts(s.b[s.i:]) {
			// The key the last object had at j, byte for byte: what str and target would find.
			n := int(k.n)
			s.i += n
			target, repeated = f.byCode(k.code)
			if repeated {
				key = s.b[s.i-n+1 : s.i-2]
			}
		} else {
			start := s.i
			var escaped bool
			key, escaped, err = s.str()
			if err != "" {
				return err
			}
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				s.ws()
				if s.i >= len(s.b) || s.b[s.i] != ':' {
					return "expected ':'"
				}
			}
			s.i++
			var code int8
			target, code, repeated = f.target(key, escaped)
			sh.keep(j, s.b[start:s.i], code, escaped)
		}
		if s.i < len(s.b) && s.b[s.i] <= ' ' {
			s.ws()
		}
		if repeated {
			if top {
				return "field " + strconv.Quote(string(key)) + " appears twice"
			}
			if f.repeated == "" {
				f.repeated = string(key)
			}
			target = nil
		}
		if top && target == &f.readings && s.i < len(s.b) && s.b[s.i] == '[' {
			err = s.elements(target, f.cat)
		} else {
			err = s.value(target)
		}
		if err != "" {
			return err
		}
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
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
			return ""
		}
		return "expected ',' or '}'"
	}
}

// elements scans a batched message's readings array from its '[' (into: its field): each element
// that is an object into its slot while there is one, the others checked and counted.
func (s *scanner) elements(into *field, cat *Catalog) string {
	b := s.batch
	if b == nil {
		return s.value(into)
	}
	b.ready(cat)
	b.elems, b.nonObject = 0, 0
	start := s.i
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
	} else {
		for {
			s.ws()
			var err string
			switch {
			case s.i < len(s.b) && s.b[s.i] == '{' && b.elems < len(b.slots):
				e := &b.slots[b.elems]
				e.clearDeclared() // what the slot's last element left
				*e = fields{cat: e.cat, decl: e.decl}
				err = s.members(e, false)
			case s.i < len(s.b) && s.b[s.i] == '{':
				err = s.value(nil)
			default:
				if b.nonObject == 0 {
					b.nonObject = b.elems + 1
				}
				err = s.value(nil)
			}
			if err != "" {
				return err
			}
			b.elems++
			s.ws()
			if s.i >= len(s.b) {
				return "unterminated array"
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == ']' {
				s.i++
				break
			}
			return "expected ',' or ']'"
		}
	}
	*into = field{kind: kindArray, start: int32(start), end: int32(s.i)}
	return ""
}

// target returns where a top-level field's value goes (nil for a field the contract ignores),
// and whether the field was seen before in this object: a repeated name is malformed (engines
// disagree on which copy wins).
// Its code says the same for the shape (byCode): codeOther for a field the contract ignores.
func (f *fields) target(key []byte, escaped bool) (*field, int8, bool) {
	k := unsafe.String(unsafe.SliceData(key), len(key))
	if escaped {
		k = unescape(key)
	}
	var code int8
	switch k {
	case "device_id":
		code = codeDeviceID
	case "event_time":
		code = codeEventTime
	case "msg_id":
		code = codeMsgID
	case "temperature":
		code = int8(Temperature)
	case "humidity":
		code = int8(Humidity)
	case "light":
		code = int8(Light)
	case "co2":
		code = int8(CO2)
	case "humidity_ratio":
		code = int8(HumidityRatio)
	case "occupancy":
		code = int8(Occupancy)
	default:
		// readings out of the switch above: beside humidity, a name of its length, it cost each
		// field of every message a comparison more (the switch goes by length first).
		if k == "readings" {
			code = codeReadings
			break
		}
		if f.cat != nil {
			if m, ok := f.cat.field(k); ok {
				code = codeDeclared + int8(m-NumMetrics)
				break
			}
		}
		if f.seen != nil { // many names: a map keeps a 16 KiB message of tiny fields linear
			if _, ok := f.seen[k]; ok {
				return nil, codeOther, true
			}
			f.seen[strings.Clone(k)] = struct{}{}
			return nil, codeOther, false
		}
		for _, o := range f.others {
			if o == k {
				return nil, codeOther, true
			}
		}
		f.others = append(f.others, strings.Clone(k))
		if len(f.others) > 16 {
			f.seen = make(map[string]struct{}, 64)
			for _, o := range f.others {
				f.seen[o] = struct{}{}
			}
		}
		return nil, codeOther, false
	}
	t, repeated := f.byCode(code)
	return t, code, repeated
}

// Where a field the contract names goes, by code (fields.target, shape): the built-in metrics
// by their Metric, the others after them, the declared metrics by catalog index from
// codeDeclared.
const (
	codeDeviceID = int8(NumMetrics) + iota
	codeEventTime
	codeMsgID
	codeReadings
	codeDeclared
	codeOther = int8(-1) // a field the contract ignores
)

// byCode is the field of code (not codeOther), and whether it was seen before in this object.
func (f *fields) byCode(code int8) (*field, bool) {
	var t *field
	switch {
	case code < int8(NumMetrics):
		t = &f.metrics[code]
	case code == codeDeviceID:
		t = &f.deviceID
	case code == codeEventTime:
		t = &f.eventTime
	case code == codeMsgID:
		t = &f.msgID
	case code == codeReadings:
		t = &f.readings
	default:
		i := code - codeDeclared
		f.declSeen |= 1 << i
		t = &f.decl[i]
	}
	return t, t.kind != kindAbsent
}

// clearDeclared resets the declared metrics' fields the message set, for the next message.
func (f *fields) clearDeclared() {
	for seen := f.declSeen; seen != 0; seen &= seen - 1 {
		f.decl[bits.TrailingZeros64(seen)] = field{}
	}
}

// value scans one value; when into is not nil it records the value's kind and text there
// (the caller refuses a repeated top-level field before it gets here).
func (s *scanner) value(into *field) string {
	if s.i >= len(s.b) {
		return "expected a value"
	}
	var kind uint8
	var start, end int
	var escaped bool
	switch c := s.b[s.i]; {
	case c == '"':
		raw, esc, err := s.str()
		if err != "" {
			return err
		}
		kind, escaped = kindString, esc
		end = s.i - 1
		start = end - len(raw)
	case c == '-' || c >= '0' && c <= '9':
		return s.number(into)
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
		*into = field{kind: kind, escaped: escaped, start: int32(start), end: int32(end)}
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

// plain marks the bytes a string may hold as they are: printable ASCII but the quote and backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasZero has a high bit set where x has a zero byte (exact as to whether there is one).
func hasZero(x uint64) uint64 { return (x - ones) &^ x & highs }

// hasLess has a high bit set where x has a byte below n (n <= 128; exact as to whether there is one).
func hasLess(x uint64, n uint64) uint64 { return (x - ones*n) &^ x & highs }

// str scans a string starting at its opening quote and returns its raw contents.
//
// The cursor is kept in a local (b, i) and stored back on the way out: through the pointer, every
// byte's step would be a load and a store of s.i that the next step waits for.
func (s *scanner) str() (raw []byte, escaped bool, err string) {
	b, i := s.b, s.i+1 // past the opening quote
	start := i
	for i < len(b) {
		// Skip eight plain bytes at a time (SWAR): stop at a word holding a quote, a backslash,
		// a control character or a non-ASCII byte, and let the byte loop below handle it.
		// The lowest flagged byte of each test is exact, so the first special byte is found at once.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if m := (hasZero(x^(ones*'"')) | hasZero(x^(ones*'\\')) | hasLess(x, 0x20) | x) & highs; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], escaped, ""
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				s.i = i
				return nil, false, "unterminated string"
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				v, ok := hex4(b[i+1:])
				if !ok {
					s.i = i
					return nil, false, "bad \\u escape"
				}
				i += 5
				// A UTF-16 surrogate must come as a pair (high, then low): alone it is no
				// character, and the lake's engines (DuckDB, Athena) refuse the line.
				switch {
				case v >= 0xDC00 && v <= 0xDFFF:
					s.i = i
					return nil, false, "unpaired surrogate in a \\u escape"
				case v >= 0xD800 && v <= 0xDBFF:
					if len(b)-i < 6 || b[i] != '\\' || b[i+1] != 'u' {
						s.i = i
						return nil, false, "unpaired surrogate in a \\u escape"
					}
					if low, ok := hex4(b[i+2:]); !ok || low < 0xDC00 || low > 0xDFFF {
						s.i = i
						return nil, false, "unpaired surrogate in a \\u escape"
					}
					i += 6
				}
			default:
				s.i = i
				return nil, false, "bad escape in string"
			}
		case c < 0x20:
			s.i = i
			return nil, false, "control character in string"
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return nil, false, "invalid UTF-8 in string"
			}
			i += size
		}
	}
	s.i = i
	return nil, false, "unterminated string"
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, h := range b[:4] {
		switch {
		case h >= '0' && h <= '9':
			v = v<<4 | rune(h-'0')
		case h >= 'a' && h <= 'f':
			v = v<<4 | rune(h-'a'+10)
		case h >= 'A' && h <= 'F':
			v = v<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// number scans -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? into into (when not nil), gathering its
// digits. The cursor and the digits are kept in locals, stored once at the end: through the
// pointers, every digit's step would wait for the last one's store.
func (s *scanner) number(into *field) string {
	b, i := s.b, s.i
	start := i
	var mant uint64
	var digits, frac int16
	neg := b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) {
		s.i = i
		return "bad number"
	}
	switch c := b[i]; {
	case c == '0':
		i++
		digits = 1
	case c >= '1' && c <= '9':
		from := i
		for i < len(b) {
			d := b[i] - '0' // one load and one unsigned comparison a digit
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
		}
		digits = int16(i - from) // a message is at most 16 KiB: fits
	default:
		s.i = i
		return "bad number"
	}
	if i < len(b) && b[i] == '.' {
		i++
		from := i
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
		}
		if i == from {
			s.i = i
			return "bad number: no digits after '.'"
		}
		frac = int16(i - from)
		digits += frac
	}
	simple := true
	if i < len(b) && b[i]|0x20 == 'e' { // e or E
		simple = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		from := i
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
		if i == from {
			s.i = i
			return "bad number: no digits in exponent"
		}
	}
	s.i = i
	if into != nil {
		*into = field{kind: kindNumber, start: int32(start), end: int32(i),
			num: number{mant: mant, frac: frac, neg: neg, fast: simple && digits <= 19 && mant <= 1<<53 && int(frac) < exactPow10}}
	}
	return ""
}
