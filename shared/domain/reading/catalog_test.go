package reading

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/csvfile"
)

const buildingCatalog = `name,unit,min,max,floor
pm25,µg/m³,0,1000,1
power_w,W,0,100000,5
supply_temp,°C,-20,80,
`

func mustCatalog(t *testing.T, text string) *Catalog {
	t.Helper()
	c, err := ParseCatalog(strings.NewReader(text), "metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseCatalog(t *testing.T) {
	c := mustCatalog(t, buildingCatalog)
	if c.Len() != 3 {
		t.Fatalf("Len = %d; want 3", c.Len())
	}
	for _, tc := range []struct {
		name  string
		want  Metric
		known bool
	}{{"temperature", Temperature, true}, {"occupancy", Occupancy, true}, {"pm25", NumMetrics, true}, {"power_w", NumMetrics + 1, true}, {"supply_temp", NumMetrics + 2, true}, {"voc", 0, false}} {
		if m, ok := c.Lookup(tc.name); ok != tc.known || m != tc.want {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tc.name, m, ok, tc.want, tc.known)
		}
		if ok := c.Known(tc.name); ok != tc.known {
			t.Errorf("Known(%q) = %v", tc.name, ok)
		}
	}
	if d, _ := c.Get("supply_temp"); d.Floor != DefaultDeclaredFloor || d.Unit != "°C" {
		t.Errorf("supply_temp = %+v; want the default floor and its unit", d)
	}
	if d, _ := c.Get("pm25"); d.Floor != 1 || d.Min != 0 || d.Max != 1000 {
		t.Errorf("pm25 = %+v", d)
	}
	if got := c.Name(NumMetrics + 1); got != "power_w" {
		t.Errorf("Name = %q", got)
	}
	var none *Catalog
	if none.Known("pm25") || !none.Known("co2") || none.Len() != 0 {
		t.Error("the nil catalog knows the built-ins only")
	}
}

// TestParseCatalogRefuses: a bad catalog is refused whole, each problem with its line and field.
func TestParseCatalogRefuses(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // "line:field" of each problem
	}{
		{"a built-in", "co2,ppm,0,5000,", []string{"2:name"}},
		{"a reading's own field", "msg_id,,0,1,", []string{"2:name"}},
		{"readings is the batch's", "readings,,0,1,", []string{"2:name"}},
		{"a bad name", "PM2.5,,0,1,", []string{"2:name"}},
		{"a name too long", strings.Repeat("a", 33) + ",,0,1,", []string{"2:name"}},
		{"min above max", "pm25,,10,1,", []string{"2:max"}},
		{"a non-finite bound", "pm25,,0,Inf,", []string{"2:max"}},
		{"a NaN bound", "pm25,,NaN,1,", []string{"2:min"}},
		{"not a number", "pm25,,zero,1,", []string{"2:min"}},
		{"an empty bound", "pm25,,,1,", []string{"2:min"}},
		{"a negative floor", "pm25,,0,1,-1", []string{"2:floor"}},
		{"a unit too long", "pm25," + strings.Repeat("u", 17) + ",0,1,", []string{"2:unit"}},
		{"declared twice", "pm25,,0,1,\npm25,,0,2,", []string{"3:name"}},
		{"sensor: its stuck rule would be temperature's", "sensor,,0,1,", []string{"2:name"}},
		{"a floor of 0", "pm25,,0,1,0", []string{"2:floor"}},
		{"every problem of every line", "co2,,0,1,\npm25,,5,1,\nvoc,,0,1,-2", []string{"2:name", "3:max", "4:floor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCatalog(strings.NewReader("name,unit,min,max,floor\n"+tc.body+"\n"), "metrics.csv")
			if err == nil || c != nil {
				t.Fatalf("ParseCatalog = %v, %v; want a refusal", c, err)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *csvfile.LineError
				if !errors.As(e, &le) {
					t.Fatalf("%v is not a line error", e)
				}
				got = append(got, strings.Join([]string{strconv.Itoa(le.Line), le.Field}, ":"))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("problems at %v; want %v (%v)", got, tc.want, err)
			}
		})
	}
	var many strings.Builder
	many.WriteString("name,min,max\n")
	for i := range MaxDeclared + 1 {
		many.WriteString("m" + strconv.Itoa(i) + ",0,1\n")
	}
	if _, err := ParseCatalog(strings.NewReader(many.String()), "metrics.csv"); err == nil || !strings.Contains(err.Error(), "at most 32") {
		t.Errorf("33 metrics: %v; want a refusal naming the limit", err)
	}
}

// TestDecodeDeclared: a declared metric is validated as a built-in is (a finite number within its
// range), counts as a metric, and an undeclared field stays ignored.
func TestDecodeDeclared(t *testing.T) {
	cat := mustCatalog(t, buildingCatalog)
	const head = `{"device_id":"meter-7","event_time":"2026-06-01T10:00:00Z"`
	tests := []struct {
		name, in string
		reason   Reason // "" accepted
		want     map[string]float64
	}{
		{"declared only", head + `,"power_w":512.5}`, "", map[string]float64{"power_w": 512.5}},
		{"with built-ins", head + `,"temperature":21,"pm25":12,"supply_temp":-3.5}`, "", map[string]float64{"temperature": 21, "pm25": 12, "supply_temp": -3.5}},
		{"bounds inclusive", head + `,"pm25":0,"power_w":100000}`, "", map[string]float64{"pm25": 0, "power_w": 100000}},
		{"undeclared ignored", head + `,"voc":3,"pm25":1}`, "", map[string]float64{"pm25": 1}},
		{"undeclared alone is no metric", head + `,"voc":3}`, NoMetrics, nil},
		{"out of range", head + `,"pm25":1000.5}`, OutOfRange, nil},
		{"below range", head + `,"supply_temp":-21}`, OutOfRange, nil},
		{"a string", head + `,"pm25":"12"}`, BadMetric, nil},
		{"null", head + `,"pm25":null}`, BadMetric, nil},
		{"repeated", head + `,"pm25":1,"pm25":2}`, MalformedJSON, nil},
		{"a bad built-in comes first", head + `,"pm25":"x","co2":"y"}`, BadMetric, nil},
		{"bad type before range", head + `,"pm25":5000,"power_w":true}`, BadMetric, nil},
		{"nested is not top-level", head + `,"temperature":20,"meta":{"pm25":"x"}}`, "", map[string]float64{"temperature": 20}},
	}
	d := Decoder{Catalog: cat}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := d.Decode([]byte(tc.in), Options{})
			if tc.reason != "" {
				var rej *Rejection
				if !errors.As(err, &rej) || rej.Reason != tc.reason {
					t.Fatalf("Decode = %v; want %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"temperature", "co2", "pm25", "power_w", "supply_temp"} {
				m, _ := cat.Lookup(name)
				v, ok := r.Value(m)
				want, wantOK := tc.want[name]
				if ok != wantOK || v != want {
					t.Errorf("%s = %v, %v; want %v, %v", name, v, ok, want, wantOK)
				}
			}
		})
	}
	// The same message without the catalog: the declared metric is an unknown field.
	if _, err := Decode([]byte(head+`,"power_w":512.5}`), Options{}); err == nil {
		t.Error("without the catalog a reading of power_w alone has no metric")
	}
}

// TestDeclaredFieldsDoNotLeak: a decoder that decoded a declared metric holds nothing of it for
// the next message, and readings it returned keep their values after later decodes.
func TestDeclaredFieldsDoNotLeak(t *testing.T) {
	cat := mustCatalog(t, buildingCatalog)
	d := Decoder{Catalog: cat}
	pm25, _ := cat.Lookup("pm25")
	var kept []Reading
	for i := range 3000 { // past an arena chunk
		r, err := d.Decode([]byte(`{"device_id":"d","event_time":"2026-06-01T10:00:00Z","pm25":`+strconv.Itoa(i%100)+`}`), Options{})
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, r)
		r2, err := d.Decode([]byte(`{"device_id":"d","event_time":"2026-06-01T10:00:00Z","co2":400}`), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r2.Has(pm25) || r2.Declared() {
			t.Fatalf("message %d: the next message has pm25", i)
		}
	}
	for i, r := range kept {
		if v, ok := r.Value(pm25); !ok || v != float64(i%100) {
			t.Fatalf("reading %d: pm25 = %v, %v after later decodes", i, v, ok)
		}
	}
}

// TestBundledCatalogParses: the example catalog the docs point to is valid.
func TestBundledCatalogParses(t *testing.T) {
	f, err := os.Open("../../../events/metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseCatalog(f, "events/metrics.csv")
	if err != nil || c.Len() != 5 || !c.Known("pm25") || c.Unit("pm25") != "µg/m³" {
		t.Fatalf("events/metrics.csv: %v, %v", c.Declared(), err)
	}
}

// TestCatalogFieldIsLookupOfDeclared: the decoder's lookup of a field name (Catalog.field, by
// the name's length) finds exactly the declared metrics Lookup finds, names of one length
// included, and nothing else: no built-in, no reading's own field, no near miss, no name past
// the longest a metric may have.
func TestCatalogFieldIsLookupOfDeclared(t *testing.T) {
	long := strings.Repeat("x", maxNameLen)
	c := mustCatalog(t, "name,min,max\npm25,0,1\npm10,0,1\nvoc,0,1\npower_w,0,1\n"+long+",0,1\n")
	for _, name := range []string{"pm25", "pm10", "voc", "power_w", long, "pm1", "pm26", "Pm25", "pm25 ", "", "temperature", "co2",
		"device_id", "readings", long + "x", long[1:], "power_x"} {
		want, known := c.Lookup(name)
		if known && want < NumMetrics {
			known = false // a built-in is the decoder's switch's, not the catalog's
		}
		got, ok := c.field(name)
		if ok != known || ok && got != want {
			t.Errorf("field(%q) = %v, %v; want %v, %v", name, got, ok, want, known)
		}
		if lo, hi := c.Range(want); known && (lo != 0 || hi != 1) {
			t.Errorf("Range(%q) = [%g, %g]; want [0, 1]", name, lo, hi)
		}
	}
}

// BenchmarkDecodeDeclared is BenchmarkDecode of the message with two declared metrics besides.
func BenchmarkDecodeDeclared(b *testing.B) {
	data := []byte(strings.TrimSuffix(good, "}") + `,"pm25":12.5,"power_w":1520}`)
	cat, err := NewCatalog([]Declared{{Name: "pm25", Min: 0, Max: 1000}, {Name: "power_w", Min: 0, Max: 100000}})
	if err != nil {
		b.Fatal(err)
	}
	d := Decoder{Catalog: cat}
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
