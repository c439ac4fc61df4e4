package reading

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// decodeAll is what DecodeMessage gives for data, as one comparable text.
func decodeAll(d *Decoder, data []byte) string {
	got, bad, err := d.DecodeMessage(data, Options{TopicDevice: "", Arrival: arrival}, nil)
	return fmt.Sprintf("%+v %+v %v", got, bad, err)
}

// shapeSeeds are message pairs where what the last message's keys were matters: the same keys,
// keys moved or missing, spaces and escapes in keys, a repeat stepped over, a declared metric,
// keys near the message's end, a batch and its elements, a key that begins another.
var shapeSeeds = [][2]string{
	{good, good},
	{good, `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":23.7,"temperature":1}`},
	{good, `{"event_time":"2015-02-02T14:19:00Z","device_id":"room-1","co2":1}`},
	{good, `{"device_id" :"room-1","event_time":"2015-02-02T14:19:00Z","co2":1}`},
	{`{"device_id" :"room-1","event_time":"2015-02-02T14:19:00Z","co2":1}`, `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","co2":1}`},
	{`{"dev\u0069ce_id":"room-1","event_time":"2015-02-02T14:19:00Z","co2":1}`, `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","co2":1}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","humidity":1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","humidity_ratio":0.1}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","humidity_ratio":0.1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","humidity":1}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","pm25":3,"co2":1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","pm25":3,"pm25":4}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","x":1,"co2":1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","x":1,"x":2}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2":1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2"`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2":1}`, `{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2":`},
	{`{"device_id":"a","readings":[{"event_time":"2015-02-02T14:19:00Z","co2":1},{"event_time":"2015-02-02T14:20:00Z","co2":2}]}`,
		`{"device_id":"a","readings":[{"event_time":"2015-02-02T14:19:00Z","co2":1,"co2":3},{"co2":2,"event_time":"2015-02-02T14:20:00Z"}]}`},
	{`{"device_id":"a","readings":[{"event_time":"2015-02-02T14:19:00Z","readings":1}]}`, `{"device_id":"a","readings":[{"event_time":"2015-02-02T14:19:00Z","readings":[]}],"readings":[]}`},
	{`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2":1,"occupancy":1,"light":2,"temperature":3,"humidity":4,"humidity_ratio":0.1,"msg_id":"x","pm25":1,"power_w":2,"supply_temp":3,"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}`,
		`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","co2":1,"occupancy":1,"light":2,"temperature":3,"humidity":4,"humidity_ratio":0.1,"msg_id":"x","pm25":1,"power_w":2,"supply_temp":3,"a":1,"b":2,"c":3,"d":4,"e":5,"co2":6}`},
}

// TestKeysSteppedOverAreTheKeysScanned: a decoder that saw other messages before (its kept
// keys) decodes each message exactly as a fresh decoder does.
func TestKeysSteppedOverAreTheKeysScanned(t *testing.T) {
	cat := batchCatalog(t)
	for i, pair := range shapeSeeds {
		for _, order := range [][2]string{pair, {pair[1], pair[0]}, {pair[1], pair[1]}} {
			warm := Decoder{Catalog: cat}
			decodeAll(&warm, []byte(order[0]))
			got := decodeAll(&warm, []byte(order[1]))
			fresh := Decoder{Catalog: cat}
			if want := decodeAll(&fresh, []byte(order[1])); got != want {
				t.Errorf("seed %d: after %s\n%s gives\n%s\nalone\n%s", i, order[0], order[1], got, want)
			}
		}
	}
}

// TestKeysSteppedOverWhenTheCatalogChanges: a declared metric's kept key is forgotten when the
// decoder's catalog changes (its code is an index of the old catalog).
func TestKeysSteppedOverWhenTheCatalogChanges(t *testing.T) {
	first, err := NewCatalog([]Declared{{Name: "pm25", Min: 0, Max: 1000}, {Name: "power_w", Min: 0, Max: 100000}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewCatalog([]Declared{{Name: "power_w", Min: 0, Max: 10}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","pm25":3,"power_w":20}`)
	d := Decoder{Catalog: first}
	if got := decodeAll(&d, msg); strings.Contains(got, "out_of_range") {
		t.Fatalf("under the first catalog: %s", got)
	}
	d.Catalog = second
	got := decodeAll(&d, msg)
	fresh := Decoder{Catalog: second}
	if want := decodeAll(&fresh, msg); got != want || !strings.Contains(got, "power_w 20 is outside") {
		t.Fatalf("under the second catalog: %s; a fresh decoder: %s", got, want)
	}
}

// FuzzShape: whatever a decoder decoded before, a message decodes as a fresh decoder decodes it.
func FuzzShape(f *testing.F) {
	for _, p := range shapeSeeds {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	cat := batchCatalog(f)
	f.Fuzz(func(t *testing.T, before, data []byte) {
		warm := Decoder{Catalog: cat}
		decodeAll(&warm, before)
		got := decodeAll(&warm, data)
		again := decodeAll(&warm, data) // its own keys kept
		fresh := Decoder{Catalog: cat}
		want := decodeAll(&fresh, data)
		if got != want || again != want {
			t.Fatalf("after %q: %q gives\n%s\nthen\n%s\nalone\n%s", before, data, got, again, want)
		}
		// The readings themselves, not only their text (unexported fields included).
		r1, _, _ := (&Decoder{Catalog: cat}).DecodeMessage(data, Options{Arrival: arrival}, nil)
		r2, _, _ := warm.DecodeMessage(data, Options{Arrival: arrival}, nil)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("%q: %+v; alone %+v", data, r2, r1)
		}
	})
}

// TestLentRoomKeepsDeclaredValues: with room lent, declared values are kept in it (no
// allocation a message) and read back as without it.
func TestLentRoomKeepsDeclaredValues(t *testing.T) {
	cat := batchCatalog(t)
	msg := []byte(`{"device_id":"a","event_time":"2015-02-02T14:19:00Z","pm25":3.5,"power_w":1520,"co2":600}`)
	room := make([]float64, 0, 3*200)
	d := Decoder{Catalog: cat, Alias: true}
	d.Lend(room)
	dst := make([]Reading, 0, 200)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, _, err = d.DecodeMessage(msg, Options{}, dst[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a message with room lent", allocs)
	}
	want, _, _ := (&Decoder{Catalog: cat}).DecodeMessage(msg, Options{}, nil)
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("with room lent %+v; without %+v", dst, want)
	}
	inRoom := false // the last run's values, past the earlier runs'
	for i := range cap(room) {
		inRoom = inRoom || &room[:cap(room)][i] == &dst[0].more[0]
	}
	if !inRoom {
		t.Fatal("the declared values are not in the room lent")
	}
}
