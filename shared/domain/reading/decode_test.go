package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var arrival = time.Date(2015, 2, 2, 14, 20, 0, 0, time.UTC)

const good = `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":23.7,"humidity":26.272,"light":585.2,"co2":749.2,"humidity_ratio":0.0047641,"occupancy":1,"msg_id":"room-1-000140"}`

func TestDecodeValid(t *testing.T) {
	r, err := Decode([]byte(good), Options{TopicDevice: "room-1", Arrival: arrival})
	if err != nil {
		t.Fatalf("Decode(good) error: %v", err)
	}
	want := map[Metric]float64{Temperature: 23.7, Humidity: 26.272, Light: 585.2, CO2: 749.2, HumidityRatio: 0.0047641, Occupancy: 1}
	for m, v := range want {
		if got, ok := r.Value(m); !ok || got != v {
			t.Errorf("Value(%v) = %v, %v; want %v", m, got, ok, v)
		}
	}
	if r.DeviceID != "room-1" || r.MsgID != "room-1-000140" || !r.EventTime.Equal(time.Date(2015, 2, 2, 14, 19, 0, 0, time.UTC)) {
		t.Errorf("Decode(good) = %+v", r)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(Reading) bool
	}{
		{"one metric is enough", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","co2":400}`, func(r Reading) bool { return r.Has(CO2) && !r.Has(Temperature) }},
		{"offset zone converts to UTC", `{"device_id":"d","event_time":"2015-02-02T15:19:00+01:00","light":1}`, func(r Reading) bool { return r.EventTime.Equal(time.Date(2015, 2, 2, 14, 19, 0, 0, time.UTC)) }},
		{"negative offset", `{"device_id":"d","event_time":"2015-02-02T09:49:00-04:30","light":1}`, func(r Reading) bool { return r.EventTime.Equal(time.Date(2015, 2, 2, 14, 19, 0, 0, time.UTC)) }},
		{"fraction", `{"device_id":"d","event_time":"2015-02-02T14:19:00.123456789Z","light":1}`, func(r Reading) bool { return r.EventTime.Nanosecond() == 123456789 }},
		{"one-digit fraction", `{"device_id":"d","event_time":"2015-02-02T14:19:00.5Z","light":1}`, func(r Reading) bool { return r.EventTime.Nanosecond() == 500000000 }},
		{"unknown fields are ignored, nested too", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":1,"fw":{"v":[1,2,{"x":null}]},"ok":true}`, func(r Reading) bool { return r.Has(Light) }},
		{"escaped device id", `{"device_id":"room\u002d1","event_time":"2015-02-02T14:19:00Z","light":1}`, func(r Reading) bool { return r.DeviceID == "room-1" }},
		{"escaped key", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","\u006cight":7}`, func(r Reading) bool { v, _ := r.Value(Light); return v == 7 }},
		{"exponent numbers", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":5.852e2,"humidity_ratio":4.7E-3}`, func(r Reading) bool { v, _ := r.Value(Light); return v == 585.2 }},
		{"range bounds are inclusive", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","temperature":-50,"humidity":100,"light":200000,"co2":0,"humidity_ratio":1,"occupancy":0}`, func(r Reading) bool { return r.Has(Occupancy) }},
		{"occupancy 1.0", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","occupancy":1.0}`, func(r Reading) bool { v, _ := r.Value(Occupancy); return v == 1 }},
		{"a surrogate pair in an escape", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":1,"note":"\ud83d\ude00"}`, func(r Reading) bool { return r.Has(Light) }},
		{"whitespace around, line ends after", " \t{ \"device_id\" : \"d\" , \"event_time\":\"2015-02-02T14:19:00Z\", \"light\" : 1 }\r\n", func(r Reading) bool { return r.Has(Light) }},
		{"a name repeated in a nested object is not repeated at the top", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":1,"meta":{"light":2,"light":3}}`, func(r Reading) bool { v, _ := r.Value(Light); return v == 1 }},
		{"the earliest event time", `{"device_id":"d","event_time":"2000-01-01T00:00:00Z","light":1}`, func(r Reading) bool { return r.EventTime.Year() == 2000 }},
		{"2000 in UTC, with an offset", `{"device_id":"d","event_time":"2000-01-01T01:00:00+01:00","light":1}`, func(r Reading) bool { return r.EventTime.Equal(MinEventTime) }},
		{"5 minutes ahead is allowed", `{"device_id":"d","event_time":"2015-02-02T14:25:00Z","light":1}`, func(r Reading) bool { return true }},
		{"leap day", `{"device_id":"d","event_time":"2012-02-29T00:00:00Z","light":1}`, func(r Reading) bool { return r.EventTime.Day() == 29 }},
		{"msg_id of 128 characters", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":1,"msg_id":"` + strings.Repeat("é", 128) + `"}`, func(r Reading) bool { return utf8.RuneCountInString(r.MsgID) == 128 }},
		{"device id of 128 characters with : _ -", `{"device_id":"` + strings.Repeat("a:_-", 32) + `","event_time":"2015-02-02T14:19:00Z","light":1}`, func(r Reading) bool { return len(r.DeviceID) == 128 }},
		{"null msg_id is absent", `{"device_id":"d","event_time":"2015-02-02T14:19:00Z","light":1,"msg_id":null}`, func(r Reading) bool { return r.MsgID == "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode([]byte(tc.in), Options{Arrival: arrival})
			if err != nil {
				t.Fatalf("Decode(%s) error: %v", tc.in, err)
			}
			if !tc.check(r) {
				t.Errorf("Decode(%s) = %+v: check failed", tc.in, r)
			}
		})
	}
}

// TestDecodeRejects is the bad-input catalogue: every case names the reason code it must get.
// manyFields is n unknown fields ,"f0":0,"f1":0,…
func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"f%d":0`, i)
	}
	return b.String()
}

func TestDecodeRejects(t *testing.T) {
	base := func(extra string) string {
		return `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z"` + extra + `}`
	}
	tests := []struct {
		name  string
		in    string
		topic string
		want  Reason
	}{
		{"empty", ``, "", MalformedJSON},
		{"not json", `hello`, "", MalformedJSON},
		{"array", `[1,2]`, "", MalformedJSON},
		{"number at top", `42`, "", MalformedJSON},
		{"truncated", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":2`, "", MalformedJSON},
		// the lake keeps one message a line: a line break inside one would split it in bronze
		{"a line break between members", "{\"device_id\":\"room-1\",\n\"event_time\":\"2015-02-02T14:19:00Z\",\"temperature\":21}", "", MalformedJSON},
		{"a carriage return between members", "{\"device_id\":\"room-1\",\r\"event_time\":\"2015-02-02T14:19:00Z\",\"temperature\":21}", "", MalformedJSON},
		{"an unpaired high surrogate", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":21,"note":"\ud800"}`, "", MalformedJSON},
		{"an unpaired low surrogate", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":21,"note":"\udc00x"}`, "", MalformedJSON},
		{"a high surrogate then no low one", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":21,"note":"\ud800\u0041"}`, "", MalformedJSON},
		{"a line break before the object", "\n{\"device_id\":\"room-1\",\"event_time\":\"2015-02-02T14:19:00Z\",\"temperature\":21}", "", MalformedJSON},
		{"trailing garbage", base(`,"light":1`) + `x`, "", MalformedJSON},
		{"two objects", base(`,"light":1`) + base(`,"light":1`), "", MalformedJSON},
		{"NaN literal", base(`,"temperature":NaN`), "", MalformedJSON},
		{"Infinity literal", base(`,"temperature":Infinity`), "", MalformedJSON},
		{"-Infinity literal", base(`,"temperature":-Infinity`), "", MalformedJSON},
		{"single quotes", `{'device_id':'room-1'}`, "", MalformedJSON},
		{"trailing comma", base(`,"light":1,`), "", MalformedJSON},
		{"leading zero", base(`,"light":01`), "", MalformedJSON},
		{"plus sign", base(`,"light":+1`), "", MalformedJSON},
		{"hex number", base(`,"light":0x10`), "", MalformedJSON},
		{"bare dot", base(`,"light":.5`), "", MalformedJSON},
		{"control char in string", "{\"device_id\":\"room\x01\",\"light\":1}", "", MalformedJSON},
		{"invalid UTF-8", "{\"device_id\":\"room-1\",\"event_time\":\"2015-02-02T14:19:00Z\",\"note\":\"\xff\xfe\",\"light\":1}", "", MalformedJSON},
		{"bad escape", `{"device_id":"room\x","light":1}`, "", MalformedJSON},
		{"comment", base(`,"light":1 /* c */`), "", MalformedJSON},
		{"unterminated nested", base(`,"x":{"a":[1,2}`), "", MalformedJSON},
		{"oversized payload", base(`,"light":1,"pad":"` + strings.Repeat("x", MaxSize) + `"`), "", TooLarge},
		{"oversized garbage is too_large first", strings.Repeat("{", MaxSize+1), "", TooLarge},
		{"missing device_id", `{"event_time":"2015-02-02T14:19:00Z","light":1}`, "", MissingDeviceID},
		{"null device_id", `{"device_id":null,"event_time":"2015-02-02T14:19:00Z","light":1}`, "", MissingDeviceID},
		{"empty device_id", `{"device_id":"","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"numeric device_id", `{"device_id":12,"event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"device id with space", `{"device_id":"room 1","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"unicode device id", `{"device_id":"räum-1","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"sql injection device id", `{"device_id":"x' OR '1'='1","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"path traversal device id", `{"device_id":"../../../etc/passwd","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"mqtt wildcard device id", `{"device_id":"room/+/#","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"escaped newline in device id", `{"device_id":"room\n1","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"device id of 129 characters", `{"device_id":"` + strings.Repeat("a", 129) + `","event_time":"2015-02-02T14:19:00Z","light":1}`, "", BadDeviceID},
		{"topic mismatch", base(`,"light":1`), "room-2", DeviceMismatch},
		{"readings beside event_time", base(`,"readings":[{"event_time":"2015-02-02T14:19:00Z","light":1}]`), "", BadBatch},
		{"readings not an array", `{"device_id":"room-1","readings":{}}`, "", BadBatch},
		{"a batched message, valid, to Decode", `{"device_id":"room-1","readings":[{"event_time":"2015-02-02T14:19:00Z","light":1}]}`, "", BadBatch},
		{"missing event_time", `{"device_id":"room-1","light":1}`, "", MissingEventTim},
		{"null event_time", `{"device_id":"room-1","event_time":null,"light":1}`, "", MissingEventTim},
		{"numeric event_time", `{"device_id":"room-1","event_time":1422886740,"light":1}`, "", BadEventTime},
		{"no zone", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00","light":1}`, "", BadEventTime},
		{"space instead of T", `{"device_id":"room-1","event_time":"2015-02-02 14:19:00Z","light":1}`, "", BadEventTime},
		{"zone name", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00 CET","light":1}`, "", BadEventTime},
		{"short offset", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00+01","light":1}`, "", BadEventTime},
		{"offset without colon", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00+0100","light":1}`, "", BadEventTime},
		{"offset hour 24", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00+24:00","light":1}`, "", BadEventTime},
		{"february 30", `{"device_id":"room-1","event_time":"2015-02-30T14:19:00Z","light":1}`, "", BadEventTime},
		{"february 29 in a common year", `{"device_id":"room-1","event_time":"2015-02-29T14:19:00Z","light":1}`, "", BadEventTime},
		{"hour 24", `{"device_id":"room-1","event_time":"2015-02-02T24:00:00Z","light":1}`, "", BadEventTime},
		{"leap second", `{"device_id":"room-1","event_time":"2015-06-30T23:59:60Z","light":1}`, "", BadEventTime},
		{"ten fraction digits", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00.1234567890Z","light":1}`, "", BadEventTime},
		{"empty fraction", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00.Z","light":1}`, "", BadEventTime},
		{"lowercase z", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00z","light":1}`, "", BadEventTime},
		{"date only", `{"device_id":"room-1","event_time":"2015-02-02","light":1}`, "", BadEventTime},
		{"future beyond 5 minutes", `{"device_id":"room-1","event_time":"2015-02-02T14:25:01Z","light":1}`, "", FutureEventTime},
		{"future by offset", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00-01:00","light":1}`, "", FutureEventTime},
		{"msg_id not a string", base(`,"light":1,"msg_id":7`), "", BadMsgID},
		{"msg_id too long", base(`,"light":1,"msg_id":"` + strings.Repeat("x", 129) + `"`), "", BadMsgID},
		{"no metrics", base(``), "", NoMetrics},
		{"only unknown fields", base(`,"pressure":1013`), "", NoMetrics},
		{"string for number", base(`,"temperature":"23.5"`), "", BadMetric},
		{"bool for number", base(`,"occupancy":true`), "", BadMetric},
		{"null metric", base(`,"temperature":null`), "", BadMetric},
		{"object metric", base(`,"temperature":{"v":1}`), "", BadMetric},
		{"1e400 overflows", base(`,"temperature":1e400`), "", BadMetric},
		{"-1e400 overflows", base(`,"co2":-1e400`), "", BadMetric},
		{"temperature too high", base(`,"temperature":150.0001`), "", OutOfRange},
		{"temperature too low", base(`,"temperature":-50.1`), "", OutOfRange},
		{"negative humidity", base(`,"humidity":-0.1`), "", OutOfRange},
		{"humidity over 100", base(`,"humidity":100.5`), "", OutOfRange},
		{"light too high", base(`,"light":200001`), "", OutOfRange},
		{"co2 too high", base(`,"co2":100001`), "", OutOfRange},
		{"humidity_ratio over 1", base(`,"humidity_ratio":1.5`), "", OutOfRange},
		{"occupancy 0.5", base(`,"occupancy":0.5`), "", OutOfRange},
		{"occupancy 2", base(`,"occupancy":2`), "", OutOfRange},
		{"tiny denormal is in range", base(`,"humidity_ratio":1e-400,"occupancy":3`), "", OutOfRange},
		// A repeated top-level name: engines disagree on which copy wins (the evaluator took the
		// last, DuckDB the first), so no copy may count.
		{"repeated metric", base(`,"temperature":22,"temperature":50`), "", MalformedJSON},
		{"repeated event_time", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","event_time":"2015-02-02T15:19:00Z","light":1}`, "", MalformedJSON},
		{"repeated device_id", `{"device_id":"room-1","device_id":"room-2","event_time":"2015-02-02T14:19:00Z","light":1}`, "", MalformedJSON},
		{"repeated through an escape", base(`,"temperature":22,"temp\u0065rature":50`), "", MalformedJSON},
		{"repeated null", base(`,"light":null,"light":1`), "", MalformedJSON},
		{"repeated unknown field", base(`,"light":1,"fw":"1","fw":"2"`), "", MalformedJSON},
		{"repeated among many unknown fields", base(`,"light":1` + manyFields(40) + `,"f7":0`), "", MalformedJSON},
		// A device clock fault: before 2000 (in 1600, UnixNano wrapped to 2184 and switched the
		// device's alarms off), or beyond iotwatch's upper bound.
		{"event time in 1600", `{"device_id":"room-1","event_time":"1600-01-01T00:00:00Z","light":1}`, "", BadEventTime},
		{"event time just before 2000", `{"device_id":"room-1","event_time":"1999-12-31T23:59:59.999999999Z","light":1}`, "", BadEventTime},
		{"event time before 2000 in UTC", `{"device_id":"room-1","event_time":"2000-01-01T00:30:00+01:00","light":1}`, "", BadEventTime},
		{"event time in 2200 (no arrival to compare with)", `{"device_id":"room-1","event_time":"2200-01-01T00:00:00Z","light":1}`, "", BadEventTime},
	}
	// The catalogue must exercise every reason code, with distinct inputs.
	covered, inputs := map[Reason]int{}, map[string]string{}
	for _, tc := range tests {
		covered[tc.want]++
		if other, ok := inputs[tc.in+"|"+tc.topic]; ok {
			t.Errorf("cases %q and %q have the same input", other, tc.name)
		}
		inputs[tc.in+"|"+tc.topic] = tc.name
	}
	for _, r := range Reasons {
		if covered[r] == 0 {
			t.Errorf("no case of the catalogue is rejected as %s", r)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), Options{TopicDevice: tc.topic, Arrival: arrival})
			var rej *Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("Decode(%.80q) = %v; want rejection %s", tc.in, err, tc.want)
			}
			if rej.Reason != tc.want {
				t.Errorf("Decode(%.80q) reason = %s (%s); want %s", tc.in, rej.Reason, rej.Detail, tc.want)
			}
			if rej.Detail == "" {
				t.Errorf("Decode(%.80q): rejection has no detail", tc.in)
			}
		})
	}
}

func TestParseTimeMatchesStdlib(t *testing.T) {
	// Every spelling ParseTime accepts must mean the same instant to time.Parse(RFC3339Nano).
	for _, s := range []string{"2015-02-02T14:19:00Z", "2015-02-02T14:19:00.5Z", "2015-02-02T14:19:00.000000001+05:30",
		"1999-12-31T23:59:59-00:00", "2024-02-29T12:00:00+14:00", "2015-02-02T00:30:00+01:00",
		"0000-01-01T00:00:00Z", "0000-02-29T23:59:59Z", "0000-03-01T00:00:00+01:00", "1600-02-29T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59",
		"1969-12-31T23:59:59Z", "2100-03-01T00:00:00Z"} {
		got, ok := ParseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
		}
	}
}

// FuzzDecode: never a panic; every input is either a valid reading or carries one known reason;
// and the scanner agrees with encoding/json about what is JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{good, `{}`, `[]`, `{"device_id":"a","event_time":"2015-02-02T14:19:00+01:00","light":1e400}`,
		`{"device_id":"a\u0041","event_time":"2015-02-02T14:19:00.123Z","occupancy":1,"x":[{"y":"\ud800"}]}`,
		`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","temperature":NaN}`, "\xff"} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(good), "room-2")
	known := map[Reason]bool{}
	for _, r := range Reasons {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, data []byte, topic string) {
		r, err := Decode(data, Options{TopicDevice: topic, Arrival: arrival})
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) || !known[rej.Reason] {
				t.Fatalf("Decode(%q) = %v: not a known rejection", data, err)
			}
			// refused on purpose, though encoding/json reads them: a line break inside, an
			// unpaired surrogate (encoding/json makes it U+FFFD)
			inner := bytes.ContainsAny(bytes.TrimRight(data, "\r\n"), "\r\n") || strings.Contains(rej.Detail, "unpaired surrogate")
			if rej.Reason == MalformedJSON && json.Valid(data) && utf8.Valid(data) && len(data) > 0 && !inner {
				var v any
				if json.Unmarshal(data, &v) == nil {
					if _, isObject := v.(map[string]any); isObject && !repeatedTopLevel(data) {
						t.Fatalf("Decode(%q) says malformed_json but encoding/json reads an object with no repeated name", data)
					}
				}
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode(%q) accepted what encoding/json rejects", data)
		}
		if repeatedTopLevel(data) {
			t.Fatalf("Decode(%q) accepted a repeated top-level name", data)
		}
		if bytes.ContainsAny(bytes.TrimRight(data, "\r\n"), "\r\n") {
			t.Fatalf("Decode(%q) accepted a line break inside the message", data)
		}
		if !ValidDeviceID(r.DeviceID) || r.EventTime.IsZero() || r.present == 0 {
			t.Fatalf("Decode(%q) = %+v: invalid reading accepted", data, r)
		}
		for m := Metric(0); m < NumMetrics; m++ {
			if v, ok := r.Value(m); ok && (math.IsNaN(v) || v < metricRange[m][0] || v > metricRange[m][1]) {
				t.Fatalf("Decode(%q): %v = %v out of range", data, m, v)
			}
		}
	})
}

// repeatedTopLevel reports whether a JSON object has a name twice at its top level, as
// encoding/json reads names (escapes decoded).
func repeatedTopLevel(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := tok.(string)
		if seen[name] {
			return true
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(good)
	var d Decoder
	opts := Options{TopicDevice: "room-1", Arrival: arrival}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(data, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

// FuzzParseTime: whatever ParseTime accepts, time.Parse reads as the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2015-02-02T14:19:00Z", "0000-02-29T23:59:59.5+01:00", "2024-02-29T12:00:00-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !got.Equal(want) {
			t.Fatalf("ParseTime(%q) = %v; time.Parse = %v, %v", s, got, want, err)
		}
	})
}

// TestDecodedDigestIsTheIdentitys: the digest the Decoder keeps is the identity's, with a msg_id
// and without one (the alarm state's duplicates depend on it).
func TestDecodedDigestIsTheIdentitys(t *testing.T) {
	var d Decoder
	for _, msg := range []string{
		`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21,"msg_id":"a-1"}`,
		`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21,"msg_id":"\u00e9t\u00e9"}`,
		`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21}`,
	} {
		r, err := d.Decode([]byte(msg), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.IdentityDigest(), r.Identity().Digest(); got != want {
			t.Errorf("%s: kept digest %x; the identity's is %x", msg, got, want)
		}
	}
}

// TestDecodeIntoOverwritesWhole: a reading decoded into a slot that held another (the evaluator
// reuses its slots) is exactly what Decode gives; nothing of the earlier reading stays.
func TestDecodeIntoOverwritesWhole(t *testing.T) {
	var d Decoder
	full := `{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":21,"humidity":30,"light":400,"co2":900,"humidity_ratio":0.004,"occupancy":1,"msg_id":"a-1"}`
	for _, msg := range []string{
		`{"device_id":"room-2","event_time":"2026-03-01T09:00:00Z","co2":400}`,
		`{"device_id":"room-2","event_time":"2026-03-01T09:00:00Z","co2":"x"}`, // rejected: the slot is cleared
	} {
		var slot Reading
		if err := d.DecodeInto(&slot, []byte(full), Options{}); err != nil {
			t.Fatal(err)
		}
		want, wantErr := d.Decode([]byte(msg), Options{})
		err := d.DecodeInto(&slot, []byte(msg), Options{})
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: DecodeInto error %v; Decode's %v", msg, err, wantErr)
		}
		if !reflect.DeepEqual(slot, want) {
			t.Errorf("%s: DecodeInto over another reading = %+v; Decode = %+v", msg, slot, want)
		}
	}
}
