package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// batchOf is a batched message of device meter-7 holding the elements (JSON object texts).
func batchOf(elems ...string) string {
	return `{"device_id":"meter-7","readings":[` + strings.Join(elems, ",") + `]}`
}

// elem is an element with event_time 2015-02-02T14:1<i>:00Z (i < 10), power_w and msg_id m-<i>.
func elem(i int) string {
	return fmt.Sprintf(`{"event_time":"2015-02-02T14:1%d:00Z","power_w":%d.5,"msg_id":"m-%d"}`, i, 500+i, i)
}

// single is the single message an element means: device_id inserted after its opening brace.
func single(device, e string) string {
	rest := strings.TrimLeft(e, " \t")[1:]
	if strings.HasPrefix(strings.TrimLeft(rest, " \t"), "}") {
		return `{"device_id":` + device + rest
	}
	return `{"device_id":` + device + `,` + rest
}

func batchCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := ParseCatalog(strings.NewReader(buildingCatalog), "metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecodeMessageBatch: the batched form, whole rejections and elements rejected alone.
func TestDecodeMessageBatch(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = elem(i % 10)
		}
		return out
	}
	tests := []struct {
		name  string
		in    string
		topic string
		whole Reason         // the whole message's rejection ("": none)
		kept  []int          // the elements kept, by index
		bad   map[int]Reason // the elements rejected, by index
	}{
		{"two readings", batchOf(elem(0), elem(1)), "meter-7", "", []int{0, 1}, nil},
		{"the contract's example", `{"device_id":"meter-7","readings":[{"event_time":"2015-02-02T14:10:00Z","power_w":512.0,"msg_id":"m-1"},{"event_time":"2015-02-02T14:11:00Z","power_w":498.5}]}`, "", "", []int{0, 1}, nil},
		{"one reading", batchOf(elem(3)), "", "", []int{0}, nil},
		{"100 readings", batchOf(many(MaxBatch)...), "", "", nil, nil},
		{"an element with the message's device_id", batchOf(elem(0), `{"device_id":"meter-7","event_time":"2015-02-02T14:19:00Z","co2":400}`), "", "", []int{0, 1}, nil},
		{"the same device_id escaped", batchOf(`{"device_id":"meter\u002d7","event_time":"2015-02-02T14:19:00Z","co2":400}`), "", "", []int{0}, nil},
		{"unknown fields at the top and in elements", `{"fw":"1.2","device_id":"meter-7","readings":[{"event_time":"2015-02-02T14:19:00Z","co2":400,"note":{"a":[1]}}],"seq":9}`, "", "", []int{0}, nil},
		{"readings before device_id", `{"readings":[` + elem(0) + `],"device_id":"meter-7"}`, "", "", []int{0}, nil},
		{"whitespace around elements", `{"device_id":"meter-7","readings": [ ` + elem(0) + ` , ` + elem(1) + ` ] }`, "", "", []int{0, 1}, nil},

		// bad_batch, whole
		{"readings an object", `{"device_id":"meter-7","readings":` + elem(0) + `}`, "", BadBatch, nil, nil},
		{"readings a string", `{"device_id":"meter-7","readings":"x"}`, "", BadBatch, nil, nil},
		{"readings null", `{"device_id":"meter-7","readings":null}`, "", BadBatch, nil, nil},
		{"readings a number", `{"device_id":"meter-7","readings":3}`, "", BadBatch, nil, nil},
		{"empty readings", batchOf(), "", BadBatch, nil, nil},
		{"an element that is a number", batchOf(elem(0), `7`), "", BadBatch, nil, nil},
		{"an element that is null", batchOf(`null`, elem(0)), "", BadBatch, nil, nil},
		{"an element that is an array", batchOf(elem(0), `[`+elem(1)+`]`), "", BadBatch, nil, nil},
		{"an element that is a string", batchOf(elem(0), `"x"`), "", BadBatch, nil, nil},
		{"101 readings", batchOf(many(MaxBatch + 1)...), "", BadBatch, nil, nil},
		{"101 readings, the last not an object", batchOf(append(many(MaxBatch), `1`)...), "", BadBatch, nil, nil},
		{"event_time beside readings", `{"device_id":"meter-7","event_time":"2015-02-02T14:19:00Z","readings":[` + elem(0) + `]}`, "", BadBatch, nil, nil},
		{"a null event_time beside readings", `{"device_id":"meter-7","event_time":null,"readings":[` + elem(0) + `]}`, "", BadBatch, nil, nil},
		{"a metric beside readings", `{"device_id":"meter-7","readings":[` + elem(0) + `],"temperature":21}`, "", BadBatch, nil, nil},
		{"a declared metric beside readings", `{"device_id":"meter-7","power_w":3,"readings":[` + elem(0) + `]}`, "", BadBatch, nil, nil},
		{"msg_id beside readings", `{"device_id":"meter-7","msg_id":"m","readings":[` + elem(0) + `]}`, "", BadBatch, nil, nil},

		// the checks of any message, whole
		{"too large", batchOf(elem(0), `{"event_time":"2015-02-02T14:19:00Z","co2":1,"pad":"`+strings.Repeat("x", MaxSize)+`"}`), "", TooLarge, nil, nil},
		{"malformed in an element", batchOf(elem(0), `{"event_time":"2015-02-02T14:19:00Z","co2":01}`), "", MalformedJSON, nil, nil},
		{"a line break between elements", batchOf(elem(0), "\n"+elem(1)), "", MalformedJSON, nil, nil},
		{"a line break inside an element", batchOf(elem(0), "{\"co2\":1,\r\"event_time\":\"2015-02-02T14:19:00Z\"}"), "", MalformedJSON, nil, nil},
		{"unterminated readings", `{"device_id":"meter-7","readings":[` + elem(0) + `}`, "", MalformedJSON, nil, nil},
		{"readings twice", `{"device_id":"meter-7","readings":[` + elem(0) + `],"readings":[` + elem(1) + `]}`, "", MalformedJSON, nil, nil},
		{"device_id twice", `{"device_id":"meter-7","device_id":"meter-7","readings":[` + elem(0) + `]}`, "", MalformedJSON, nil, nil},
		{"malformed comes before bad_batch", batchOf(`1`, `{"co2":+1}`), "", MalformedJSON, nil, nil},
		{"missing device_id", `{"readings":[` + elem(0) + `]}`, "", MissingDeviceID, nil, nil},
		{"missing device_id comes before bad_batch", `{"readings":[]}`, "", MissingDeviceID, nil, nil},
		{"bad device_id", `{"device_id":"meter 7","readings":[` + elem(0) + `]}`, "", BadDeviceID, nil, nil},
		{"an element's device_id does not stand for the message's", `{"readings":[{"device_id":"meter-7","event_time":"2015-02-02T14:19:00Z","co2":1}]}`, "", MissingDeviceID, nil, nil},
		{"published on another device's topic", batchOf(elem(0)), "meter-8", DeviceMismatch, nil, nil},

		// elements rejected alone, the others kept in order
		{"a bad event_time", batchOf(elem(0), `{"event_time":"2015-02-02 14:19:00Z","co2":1}`, elem(2)), "", "", []int{0, 2}, map[int]Reason{1: BadEventTime}},
		{"a missing event_time", batchOf(`{"co2":1}`, elem(1)), "", "", []int{1}, map[int]Reason{0: MissingEventTim}},
		{"a future event_time", batchOf(elem(0), `{"event_time":"2015-02-02T14:30:00Z","co2":1}`), "", "", []int{0}, map[int]Reason{1: FutureEventTime}},
		{"out of range", batchOf(`{"event_time":"2015-02-02T14:19:00Z","power_w":100001}`, elem(1), `{"event_time":"2015-02-02T14:19:00Z","co2":-1}`), "", "", []int{1}, map[int]Reason{0: OutOfRange, 2: OutOfRange}},
		{"another device_id in an element", batchOf(elem(0), elem(1), `{"device_id":"meter-8","event_time":"2015-02-02T14:19:00Z","co2":1}`), "meter-7", "", []int{0, 1}, map[int]Reason{2: DeviceMismatch}},
		{"a null device_id in an element", batchOf(`{"device_id":null,"event_time":"2015-02-02T14:19:00Z","co2":1}`, elem(1)), "", "", []int{1}, map[int]Reason{0: DeviceMismatch}},
		{"a numeric device_id in an element", batchOf(`{"device_id":7,"event_time":"2015-02-02T14:19:00Z","co2":1}`, elem(1)), "", "", []int{1}, map[int]Reason{0: DeviceMismatch}},
		{"device_mismatch comes before the element's other checks", batchOf(`{"device_id":"x","co2":"y"}`), "", "", nil, map[int]Reason{0: DeviceMismatch}},
		{"no metrics", batchOf(elem(0), `{"event_time":"2015-02-02T14:19:00Z","voc":3}`, `{}`), "", "", []int{0}, map[int]Reason{1: NoMetrics, 2: MissingEventTim}},
		{"a bad metric", batchOf(`{"event_time":"2015-02-02T14:19:00Z","power_w":null}`, elem(1)), "", "", []int{1}, map[int]Reason{0: BadMetric}},
		{"a bad msg_id", batchOf(elem(0), `{"event_time":"2015-02-02T14:19:00Z","co2":1,"msg_id":7}`), "", "", []int{0}, map[int]Reason{1: BadMsgID}},
		{"a name twice in an element", batchOf(elem(0), `{"event_time":"2015-02-02T14:19:00Z","co2":1,"co2":2}`, elem(2)), "", "", []int{0, 2}, map[int]Reason{1: MalformedJSON}},
		{"an unknown name twice in an element", batchOf(`{"event_time":"2015-02-02T14:19:00Z","co2":1,"x":1,"x":2}`), "", "", nil, map[int]Reason{0: MalformedJSON}},
		{"a name twice comes before device_mismatch", batchOf(`{"device_id":"x","co2":1,"co2":2}`), "", "", nil, map[int]Reason{0: MalformedJSON}},
		{"a name of two elements is no repeat", batchOf(elem(1), elem(1)), "", "", []int{0, 1}, nil},
		{"readings in an element", batchOf(elem(0), `{"readings":[`+elem(1)+`]}`), "", "", []int{0}, map[int]Reason{1: BadBatch}},
		{"every element bad", batchOf(`{}`, `{}`), "", "", nil, map[int]Reason{0: MissingEventTim, 1: MissingEventTim}},
	}
	cat := batchCatalog(t)
	opts := Options{Arrival: arrival}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{Catalog: cat}
			opts.TopicDevice = tc.topic
			dst := []Reading{{DeviceID: "earlier"}}
			got, bad, err := d.DecodeMessage([]byte(tc.in), opts, dst)
			if len(got) == 0 || got[0].DeviceID != "earlier" {
				t.Fatalf("DecodeMessage did not append to dst: %v", got)
			}
			got = got[1:]
			if tc.whole != "" {
				var rej *Rejection
				if !errors.As(err, &rej) || rej.Reason != tc.whole || rej.Detail == "" {
					t.Fatalf("DecodeMessage(%.100s) = %v; want the whole message rejected as %s", tc.in, err, tc.whole)
				}
				if len(got) != 0 || len(bad) != 0 {
					t.Errorf("DecodeMessage(%.100s) rejected whole, but gave %d readings and %d element rejections", tc.in, len(got), len(bad))
				}
				// Decode refuses it alike.
				if _, err := d.Decode([]byte(tc.in), opts); !errors.As(err, &rej) || rej.Reason != tc.whole {
					t.Errorf("Decode(%.100s) = %v; want %s", tc.in, err, tc.whole)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeMessage(%.100s) = %v; want no whole rejection", tc.in, err)
			}
			var elems []json.RawMessage
			var msg struct{ Readings *[]json.RawMessage }
			msg.Readings = &elems
			if err := json.Unmarshal([]byte(tc.in), &msg); err != nil {
				t.Fatal(err)
			}
			kept := tc.kept
			if kept == nil && tc.bad == nil {
				for i := range elems {
					kept = append(kept, i)
				}
			}
			if len(got) != len(kept) {
				t.Fatalf("DecodeMessage(%.100s) kept %d readings; want %d (%v)", tc.in, len(got), len(kept), bad)
			}
			for j, i := range kept {
				want, err := d.Decode([]byte(single(`"meter-7"`, string(elems[i]))), Options{TopicDevice: "meter-7", Arrival: arrival})
				if strings.Contains(string(elems[i]), `"device_id"`) {
					want, err = d.Decode(elems[i], Options{TopicDevice: "meter-7", Arrival: arrival})
				}
				if err != nil {
					t.Fatalf("element %d alone: %v", i, err)
				}
				if !reflect.DeepEqual(got[j], want) {
					t.Errorf("reading %d (element %d) = %+v; the element alone gives %+v", j, i, got[j], want)
				}
			}
			if len(bad) != len(tc.bad) {
				t.Fatalf("DecodeMessage(%.100s) rejected %v; want %v", tc.in, bad, tc.bad)
			}
			for j, b := range bad {
				if want, ok := tc.bad[b.Index]; !ok || b.Reason != want || b.Detail == "" {
					t.Errorf("element rejection %d = %v; want %v", j, b, tc.bad)
				}
				if j > 0 && bad[j-1].Index >= b.Index {
					t.Errorf("element rejections out of order: %v", bad)
				}
			}
			// Decode takes single readings only.
			var rej *Rejection
			if _, err := d.Decode([]byte(tc.in), opts); !errors.As(err, &rej) || rej.Reason != BadBatch {
				t.Errorf("Decode(%.100s) = %v; want bad_batch", tc.in, err)
			}
		})
	}
}

// TestDecodeMessageSingle: a message without readings decodes through DecodeMessage exactly as
// through Decode: one reading, or the same rejection and nothing appended.
func TestDecodeMessageSingle(t *testing.T) {
	var d Decoder
	for _, in := range []string{good, `{"device_id":"room-1","light":1}`, `[1]`, `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","co2":"x"}`} {
		want, wantErr := d.Decode([]byte(in), Options{Arrival: arrival})
		got, bad, err := d.DecodeMessage([]byte(in), Options{Arrival: arrival}, make([]Reading, 0, 4))
		if len(bad) != 0 {
			t.Errorf("DecodeMessage(%s) element rejections %v", in, bad)
		}
		if wantErr != nil {
			if err == nil || err.Error() != wantErr.Error() || len(got) != 0 {
				t.Errorf("DecodeMessage(%s) = %v, %v; Decode's error %v", in, got, err, wantErr)
			}
			if !reflect.DeepEqual(got[:1][0], Reading{}) {
				t.Errorf("DecodeMessage(%s) left a partial reading in dst's array", in)
			}
			continue
		}
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("DecodeMessage(%s) = %v, %v; Decode = %+v", in, got, err, want)
		}
	}
}

// TestBatchSlotsDoNotLeak: an element's declared metrics and names are not the next message's,
// with the decoder's catalog changed in between too.
func TestBatchSlotsDoNotLeak(t *testing.T) {
	cat := batchCatalog(t)
	d := Decoder{Catalog: cat}
	power, _ := cat.Lookup("power_w")
	first, _, err := d.DecodeMessage([]byte(batchOf(elem(0), elem(1))), Options{}, nil)
	if err != nil || len(first) != 2 {
		t.Fatal(first, err)
	}
	got, bad, err := d.DecodeMessage([]byte(batchOf(`{"event_time":"2015-02-02T14:19:00Z","co2":1,"x":1}`, `{"event_time":"2015-02-02T14:19:00Z","co2":1}`)), Options{}, nil)
	if err != nil || len(bad) != 0 || len(got) != 2 || got[0].Has(power) || got[1].Has(power) || got[0].MsgID != "" {
		t.Fatalf("the second batch = %+v, %v, %v", got, bad, err)
	}
	if v, ok := first[1].Value(power); !ok || v != 501.5 {
		t.Errorf("the first batch's reading changed: power_w %v, %v", v, ok)
	}
	// a repeated unknown name of an element, then the same name once in the next message's
	if _, bad, _ := d.DecodeMessage([]byte(batchOf(`{"event_time":"2015-02-02T14:19:00Z","co2":1,"x":1,"x":1}`)), Options{}, nil); len(bad) != 1 {
		t.Fatalf("want the element rejected: %v", bad)
	}
	if got, bad, err := d.DecodeMessage([]byte(batchOf(`{"event_time":"2015-02-02T14:19:00Z","co2":1,"x":1}`)), Options{}, nil); err != nil || len(bad) != 0 || len(got) != 1 {
		t.Fatalf("the next message = %v, %v, %v", got, bad, err)
	}
	d.Catalog = nil
	if got, bad, err := d.DecodeMessage([]byte(batchOf(elem(0))), Options{}, nil); err != nil || len(got) != 0 || len(bad) != 1 || bad[0].Reason != NoMetrics {
		t.Fatalf("without the catalog power_w is no metric: %v, %v, %v", got, bad, err)
	}
}

// TestBatchAlias: with Alias, a batch's readings refer to the message bytes and equal the copies.
func TestBatchAlias(t *testing.T) {
	msg := []byte(batchOf(elem(0), elem(1)))
	plain, _, err := (&Decoder{Catalog: batchCatalog(t)}).DecodeMessage(msg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	aliased, _, err := (&Decoder{Catalog: batchCatalog(t), Alias: true}).DecodeMessage(msg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 2 || !reflect.DeepEqual(plain, aliased) {
		t.Errorf("aliased %+v; copied %+v", aliased, plain)
	}
}

// sanitizeDevice makes a fuzzed device id a valid one.
func sanitizeDevice(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-' {
			out = append(out, c)
		}
	}
	if len(out) == 0 || len(out) > 128 {
		return "dev-1"
	}
	return string(out)
}

// topLevelName reports whether the JSON object text o has name at its top level (as encoding/json
// reads names: escapes decoded).
func topLevelName(o []byte, name string) bool {
	dec := json.NewDecoder(bytes.NewReader(o))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == name {
			return true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// alone is what an element means decoded as a single message of device: the reading, or the
// reason the element must be rejected with.
func alone(d *Decoder, e []byte, device string, opts Options) (Reading, Reason) {
	msg := []byte(single(`"`+device+`"`, string(e)))
	carries := topLevelName(e, "device_id")
	if carries {
		msg = e // its own device_id, against the batch's device as the topic's
	}
	opts.TopicDevice = device
	r, err := d.Decode(msg, opts)
	if err == nil {
		return r, ""
	}
	var rej *Rejection
	if !errors.As(err, &rej) {
		return Reading{}, "not a rejection: " + Reason(err.Error())
	}
	if carries && (rej.Reason == MissingDeviceID || rej.Reason == BadDeviceID) {
		return Reading{}, DeviceMismatch // an element's device_id is the message's or a mismatch
	}
	return Reading{}, rej.Reason
}

// FuzzBatch: an element of a batch is what it is alone. For elements E1, E2 (JSON objects) and a
// device D, {"device_id":D,"readings":[E1,E2,E1]} gives, for each element, exactly what the single
// message {"device_id":D, <E's fields>} gives (the same Reading, or the same reason); E alone in a
// batch too; and what makes the batch malformed whole makes the single message malformed.
func FuzzBatch(f *testing.F) {
	f.Add([]byte(elem(0)), []byte(elem(1)), "meter-7")
	f.Add([]byte(`{}`), []byte(` { } `), "d")
	f.Add([]byte(`{"event_time":"2015-02-02T14:19:00Z","co2":1,"co2":2}`), []byte(`{"device_id":"meter-7","event_time":"2015-02-02T14:19:00.5+01:00","temperature":21,"power_w":3}`), "meter-7")
	f.Add([]byte(`{"device_id":null,"event_time":"2015-02-02T14:19:00Z","light":1}`), []byte(`{"device_id":"other","light":1}`), "x")
	f.Add([]byte(`{"readings":[{"event_time":"2015-02-02T14:19:00Z","light":1}]}`), []byte(`{"readings":[],"event_time":"2015-02-02T14:19:00Z","light":1}`), "x")
	f.Add([]byte(`{"event_time":"2015-02-02T14:19:00Z","light":1,"msg_id":"\u00e9t\u00e9","x":[{"y":"\ud83d\ude00"}]}`), []byte("{\"event_time\":\"2015-02-02T14:19:00Z\",\n\"light\":1}"), "y")
	f.Add([]byte(`{"event_time":"2015-02-02T14:19:00Z","light":1,"x":"\ud800"}`), []byte(`{"event_time":"2015-02-02T14:29:00Z","pm25":1001,"msg_id":7}`), "z")
	f.Add([]byte(`{"event_time":"2015-02-02T14:19:00Z","supply_temp":-20,"x":1,"y":2,"x":3}`), []byte(`{"device_id":"d\u0031","event_time":"2015-02-02T14:19:00Z","light":1}`), "d1")
	cat := batchCatalog(f)
	f.Fuzz(func(t *testing.T, e1, e2 []byte, device string) {
		object := func(e []byte) bool {
			return json.Valid(e) && len(bytes.TrimLeft(e, " \t\r\n")) > 0 && bytes.TrimLeft(e, " \t\r\n")[0] == '{'
		}
		if !object(e1) || !object(e2) {
			return
		}
		device = sanitizeDevice(device)
		opts := Options{TopicDevice: device, Arrival: arrival}
		d := Decoder{Catalog: cat}
		for _, elems := range [][][]byte{{e1}, {e1, e2, e1}} {
			msg := []byte(`{"device_id":"` + device + `","readings":[` + string(bytes.Join(elems, []byte(","))) + `]}`)
			got, bad, err := d.DecodeMessage(msg, opts, nil)
			if len(msg) > MaxSize {
				if rej, ok := err.(*Rejection); !ok || rej.Reason != TooLarge {
					t.Fatalf("%s: %v; want too_large", msg, err)
				}
				continue
			}
			if err != nil {
				// Only what breaks the message's JSON line (a line break, invalid UTF-8, an
				// unpaired surrogate) rejects it whole here; each element that has it is
				// malformed alone too.
				rej, ok := err.(*Rejection)
				if !ok || rej.Reason != MalformedJSON {
					t.Fatalf("%s: whole %v; want malformed_json or nothing", msg, err)
				}
				some := false
				for _, e := range elems {
					if _, reason := alone(&d, e, device, opts); reason == MalformedJSON {
						some = true
					}
				}
				if !some && !bytes.ContainsAny(msg, "\r\n") {
					t.Fatalf("%s: rejected whole (%v), but no element alone is malformed", msg, err)
				}
				continue
			}
			k := 0
			rejected := map[int]Reason{}
			for _, b := range bad {
				rejected[b.Index] = b.Reason
			}
			for i, e := range elems {
				want, reason := alone(&d, e, device, opts)
				if reason != "" {
					if rejected[i] != reason {
						t.Fatalf("%s: element %d rejected as %q; alone it is %s", msg, i, rejected[i], reason)
					}
					continue
				}
				if _, ok := rejected[i]; ok {
					t.Fatalf("%s: element %d rejected as %s; alone it is %+v", msg, i, rejected[i], want)
				}
				if k >= len(got) || !reflect.DeepEqual(got[k], want) {
					t.Fatalf("%s: element %d = %+v; alone %+v", msg, i, got[k:], want)
				}
				if got[k].IdentityDigest() != want.Identity().Digest() {
					t.Fatalf("%s: element %d keeps digest %x; its identity's is %x", msg, i, got[k].IdentityDigest(), want.Identity().Digest())
				}
				k++
			}
			if k != len(got) || len(got)+len(bad) != len(elems) {
				t.Fatalf("%s: %d readings and %d rejections for %d elements", msg, len(got), len(bad), len(elems))
			}
		}
	})
}

// BenchmarkDecodeTen: the same ten readings as ten single messages and as one batched message.
func BenchmarkDecodeTen(b *testing.B) {
	var singles [][]byte
	var elems []string
	size := 0
	for i := range 10 {
		e := fmt.Sprintf(`{"event_time":"2015-02-02T14:1%d:00Z","temperature":23.%d,"humidity":26.272,"light":585.2,"co2":749.2,"humidity_ratio":0.0047641,"occupancy":1,"msg_id":"room-1-00014%d"}`, i, i, i)
		elems = append(elems, e)
		singles = append(singles, []byte(single(`"room-1"`, e)))
		size += len(singles[i])
	}
	batch := []byte(`{"device_id":"room-1","readings":[` + strings.Join(elems, ",") + `]}`)
	opts := Options{TopicDevice: "room-1", Arrival: arrival}
	dst := make([]Reading, 0, 10)
	b.Run("singles", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for range b.N {
			dst = dst[:0]
			for _, m := range singles {
				var err error
				if dst, _, err = d.DecodeMessage(m, opts, dst); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "readings/s")
	})
	b.Run("batch", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for range b.N {
			var err error
			var bad []ElementRejection
			if dst, bad, err = d.DecodeMessage(batch, opts, dst[:0]); err != nil || len(bad) != 0 || len(dst) != 10 {
				b.Fatal(err, bad)
			}
		}
		b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "readings/s")
	})
}

// TestPartitionHourBatch: a batched message is filed by its first element's event_time.
func TestPartitionHourBatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{batchOf(`{"event_time":"2026-03-01T08:15:00Z","co2":1}`, `{"event_time":"2026-03-01T09:15:00Z","co2":1}`), time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), true},
		{`{"event_time":"2026-03-01T10:00:00Z","readings":[{"event_time":"2026-03-01T08:15:00+01:00"}]}`, time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC), true},
		{`{"event_time":"2026-03-01T10:00:00Z","readings":[]}`, time.Time{}, false},
		{`{"event_time":"2026-03-01T10:00:00Z","readings":null}`, time.Time{}, false},
		{batchOf(`{"co2":1}`, `{"event_time":"2026-03-01T09:15:00Z","co2":1}`), time.Time{}, false},
	} {
		got, ok := PartitionHour([]byte(tc.in), "event_time")
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("PartitionHour(%s) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
