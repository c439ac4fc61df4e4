// Package reading decodes and validates the sensor readings a device publishes on
// devices/{device_id}/readings. It is the contract of DESIGN.md ("Reading"): every input either
// becomes a valid Reading or is rejected with one reason code, never both, never neither. A
// batched message ("Batched messages") is that, whole, and then again for each of its elements.
//
// The decoder is a strict single-pass scanner: it accepts exactly the JSON that encoding/json
// accepts (and additionally refuses invalid UTF-8, which would break the lake's readers), so a
// reading that passes can land in bronze and be read back by Athena and DuckDB.
package reading

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxSize is the largest message accepted, in bytes.
const MaxSize = 16 * 1024

// MaxFutureSkew is how far ahead of its arrival a reading's event_time may be.
const MaxFutureSkew = 5 * time.Minute

// MaxMsgIDLen is the longest msg_id accepted, in characters.
const MaxMsgIDLen = 128

// MaxBatch is the most readings a batched message carries (DESIGN.md, "Batched messages").
const MaxBatch = 100

// The range of event times accepted. Before MinEventTime is a device clock fault (the contract);
// from MaxEventTime on as well (iotwatch's bound for input without an arrival time, such as a
// backtest: times as late as 2262 no longer fit the alarm state's Unix nanoseconds).
var (
	MinEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxEventTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Reason is the code a rejected reading is quarantined with.
type Reason string

// The reason codes of DESIGN.md, plus bad_msg_id (a msg_id that is not a string of at most 128
// characters), which the contract does not name but which must not be silently accepted.
// bad_batch is the batched form's (third edition): a message whose readings field is not 1 to
// MaxBatch objects, or that has event_time, msg_id or a metric beside it.
const (
	MalformedJSON   Reason = "malformed_json"
	MissingDeviceID Reason = "missing_device_id"
	BadDeviceID     Reason = "bad_device_id"
	DeviceMismatch  Reason = "device_mismatch"
	MissingEventTim Reason = "missing_event_time"
	BadEventTime    Reason = "bad_event_time"
	FutureEventTime Reason = "future_event_time"
	NoMetrics       Reason = "no_metrics"
	BadMetric       Reason = "bad_metric"
	OutOfRange      Reason = "out_of_range"
	TooLarge        Reason = "too_large"
	BadMsgID        Reason = "bad_msg_id"
	BadBatch        Reason = "bad_batch"
)

// Reasons lists every reason code, in the order validation checks them. A batched message is
// checked whole up to bad_batch; then each element from malformed_json (a name repeated in it)
// and device_mismatch on, as a single message is.
var Reasons = []Reason{TooLarge, MalformedJSON, MissingDeviceID, BadDeviceID, DeviceMismatch, BadBatch,
	MissingEventTim, BadEventTime, FutureEventTime, BadMsgID, NoMetrics, BadMetric, OutOfRange}

// Rejection is the error returned for an invalid reading.
type Rejection struct {
	Reason Reason
	Detail string
}

func (r *Rejection) Error() string { return string(r.Reason) + ": " + r.Detail }

// ElementRejection is an element of a batched message's readings that was rejected alone: Index
// is its place in the array (from 0); the message's other elements are not affected.
type ElementRejection struct {
	Index int
	Rejection
}

func (e ElementRejection) Error() string {
	return "element " + strconv.Itoa(e.Index) + ": " + e.Rejection.Error()
}

func reject(reason Reason, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Metric names one measured quantity of a reading.
type Metric uint8

// The metrics of a reading, in contract order.
const (
	Temperature Metric = iota
	Humidity
	Light
	CO2
	HumidityRatio
	Occupancy
	NumMetrics
)

var metricNames = [NumMetrics]string{"temperature", "humidity", "light", "co2", "humidity_ratio", "occupancy"}

func (m Metric) String() string {
	if m < NumMetrics {
		return metricNames[m]
	}
	return fmt.Sprintf("metric(%d)", m)
}

// metricRange holds the inclusive valid range of each metric.
var metricRange = [NumMetrics][2]float64{
	Temperature:   {-50, 150},
	Humidity:      {0, 100},
	Light:         {0, 200000},
	CO2:           {0, 100000},
	HumidityRatio: {0, 1},
	Occupancy:     {0, 1},
}

// Reading is one valid reading. Metrics absent from the message are absent here (Has reports it).
type Reading struct {
	DeviceID  string
	EventTime time.Time // UTC
	MsgID     string    // empty when the message carries none
	values    [NumMetrics]float64
	present   uint64 // bit m: the reading carries metric m (built-in or declared)
	idDigest  uint64 // Identity().Digest() of a msg_id, kept by the Decoder (0: not kept)
	// more are the values of declared metrics (Metric NumMetrics+i at i), nil when the reading
	// carries none; they belong to the catalog the reading was decoded with.
	more []float64
}

// Has reports whether the reading carries metric m.
func (r *Reading) Has(m Metric) bool { return r.present&(1<<m) != 0 }

// Value returns metric m and whether the reading carries it.
func (r *Reading) Value(m Metric) (float64, bool) {
	if m < NumMetrics {
		return r.values[m], r.present&(1<<m) != 0
	}
	if r.present&(1<<m) == 0 {
		return 0, false
	}
	return r.more[m-NumMetrics], true
}

// Declared reports whether the reading carries any declared metric.
func (r *Reading) Declared() bool { return r.present>>NumMetrics != 0 }

// Set stores metric m (for building readings in code, e.g. from the occupancy CSV).
func (r *Reading) Set(m Metric, v float64) {
	if m >= NumMetrics {
		if i := int(m - NumMetrics); i >= len(r.more) {
			r.more = append(r.more, make([]float64, i+1-len(r.more))...)
		}
		r.more[m-NumMetrics] = v
	} else {
		r.values[m] = v
	}
	r.present |= 1 << m
}

// Identity is what makes two readings of the same device the same reading: (device_id, msg_id),
// or (device_id, event_time) where msg_id is absent.
type Identity struct {
	MsgID    string
	UnixNano int64 // used only when MsgID is empty
}

// Identity returns the reading's identity within its device.
func (r *Reading) Identity() Identity {
	if r.MsgID != "" {
		return Identity{MsgID: r.MsgID}
	}
	return Identity{UnixNano: r.EventTime.UnixNano()}
}

// IdentityDigest is r.Identity().Digest(): the Decoder keeps a msg_id's while the message's
// bytes are in the cache (hashed later, from another device's turn, they cost a cache miss: a
// tenth of an evaluation).
func (r *Reading) IdentityDigest() uint64 {
	if r.idDigest != 0 {
		return r.idDigest
	}
	return r.Identity().Digest()
}

// Digest is an identity's 64-bit FNV-1a hash, over its String form ("m:<msg_id>" or
// "t:<unix nanos>") without building it. The alarm state keeps digests, not identities: 13
// bytes each instead of a msg_id's length (a UUID's 38), which keeps a device's state item under
// DynamoDB's 1 KB write unit. Two identities of one device's last 32 readings share a digest
// with a probability of about 32 / 2^64 a reading: a reading taken for a duplicate once in ~10^17.
func (id Identity) Digest() uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	if id.MsgID != "" {
		h = (h ^ 'm') * prime
		h = (h ^ ':') * prime
		for i := 0; i < len(id.MsgID); i++ {
			h = (h ^ uint64(id.MsgID[i])) * prime
		}
		return h
	}
	var buf [24]byte
	h = (h ^ 't') * prime
	h = (h ^ ':') * prime
	for _, b := range strconv.AppendInt(buf[:0], id.UnixNano, 10) {
		h = (h ^ uint64(b)) * prime
	}
	return h
}

// String renders an identity compactly: "m:<msg_id>" or "t:<unix nanos>".
func (id Identity) String() string {
	if id.MsgID != "" {
		return "m:" + id.MsgID
	}
	return "t:" + strconv.FormatInt(id.UnixNano, 10)
}

// ParseIdentity reads what Identity.String wrote.
func ParseIdentity(s string) (Identity, bool) {
	switch {
	case strings.HasPrefix(s, "m:") && len(s) > 2:
		return Identity{MsgID: s[2:]}, true
	case strings.HasPrefix(s, "t:"):
		ns, err := strconv.ParseInt(s[2:], 10, 64)
		return Identity{UnixNano: ns}, err == nil
	}
	return Identity{}, false
}

// ValidDeviceID reports whether id matches ^[A-Za-z0-9:_-]{1,128}$.
func ValidDeviceID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// DeviceIDPattern is the contract's device id pattern, which ValidDeviceID implements.
const DeviceIDPattern = `^[A-Za-z0-9:_-]{1,128}$`

// Counts is a number of rejected readings per reason.
type Counts map[Reason]int

// Total is the number of rejected readings.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String lists the reasons and their counts by reason, "bad_metric 2, malformed_json 1"; "" when none.
func (c Counts) String() string {
	parts := make([]string, 0, len(c))
	for r, n := range c {
		parts = append(parts, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
