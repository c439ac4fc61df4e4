package reading

import (
	"math"
	"strconv"
	"testing"
)

func TestParseNumberMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "23.7", "26.272", "0.00476416302416414", "585.2", "749.2", "0.0047641",
		"9007199254740992", "9007199254740993", "12345678901234567890", "1e400", "-1e400", "1e-400", "5.852e2",
		"0.1", "0.3", "123456789.123456789", "0.0000000000000000000001", "0.00000000000000000000001", "-50", "150.0001",
		"99999999999999999", "1.7976931348623157e308", "4.9e-324"} {
		want, werr := strconv.ParseFloat(s, 64)
		sc := scanner{b: []byte(s)}
		var f field
		sc.number(&f)
		got, gerr := f.num.value([]byte(s))
		if math.Float64bits(got) != math.Float64bits(want) || (gerr == nil) != (werr == nil) {
			t.Errorf("value(%s) = %v, %v; strconv says %v, %v", s, got, gerr, want, werr)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"23.7", "0.0047641", "-12.5", "9007199254740993.5", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := scanner{b: []byte(s)}
		if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
			return
		}
		var f field
		if serr := sc.number(&f); serr != "" || sc.i != len(s) {
			return // not a JSON number: the scanner never hands it over
		}
		want, werr := strconv.ParseFloat(s, 64)
		got, gerr := f.num.value([]byte(s))
		if math.Float64bits(got) != math.Float64bits(want) || (gerr == nil) != (werr == nil) {
			t.Fatalf("value(%s) = %v, %v; strconv says %v, %v", s, got, gerr, want, werr)
		}
	})
}
