package threshold

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const hdr = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n"

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error, in order; none for success
		n        int
	}{
		{"design example", hdr + "alice,room-1,24.0,26.0,,,300,0\n", nil, 1},
		{"empty sustain defaults to 0", hdr + "alice,room-1,24,,,,,\n", nil, 1},
		{"equal warning and violation are fine", hdr + "alice,room-1,24,24,18,18,,\n", nil, 1},
		{"BOM and blank lines", "\ufeff" + hdr + "alice,room-1,24,,,,,\n\nbob,room-1,,,10,,,\n", nil, 2},
		{"violation below warning", hdr + "alice,room-1,26,24,,,,\n", []string{"x.csv:2: temp_violation: 24 is below temp_warning 26"}, 0},
		{"low violation above low warning", hdr + "alice,room-1,,,18,19,,\n", []string{"x.csv:2: temp_low_violation: 19 is above temp_low_warning 18"}, 0},
		{"Inf is refused", hdr + "alice,room-1,+Inf,,,,,\n", []string{"temp_warning: \"+Inf\" is not a finite number"}, 0},
		{"1e400 is refused", hdr + "alice,room-1,1e400,,,,,\n", []string{"temp_warning: \"1e400\" is not a finite number"}, 0},
		{"text for a number", hdr + "alice,room-1,warm,,,,,\n", []string{"x.csv:2: temp_warning"}, 0},
		{"negative sustain", hdr + "alice,room-1,24,,,,,-5\n", []string{"sustain_seconds: -5 is negative"}, 0},
		{"sustain of 7 days", hdr + "alice,room-1,24,,,,,604800\n", nil, 1},
		{"sustain over 7 days", hdr + "alice,room-1,24,,,,,604801\n", []string{"sustain_seconds: 604801 is more than 604800 (7 days)"}, 0},
		{"sustain that wrapped around in nanoseconds", hdr + "alice,room-1,24,,,,,9223372037\n", []string{"sustain_seconds: 9223372037 is more than 604800"}, 0},
		{"sustain beyond int64", hdr + "alice,room-1,24,,,,,9223372036854775808\n", []string{"sustain_seconds: \"9223372036854775808\" is not a whole number"}, 0},
		{"fractional sustain", hdr + "alice,room-1,24,,,,,1.5\n", []string{"sustain_seconds: \"1.5\" is not a whole number"}, 0},
		{"bad device id", hdr + "alice,room/1,24,,,,,\n", []string{"device_id: \"room/1\" does not match"}, 0},
		{"user id with control character", hdr + "al\x01ice,room-1,24,,,,,\n", []string{"user_id"}, 0},
		{"one bad line refuses the file", hdr + "alice,room-1,24,,,,,\nbob,room-1,x,,,,,\ncarol,room-1,24,,,,,\n", []string{"x.csv:3: temp_warning"}, 0},
		{"unterminated quote", hdr + "alice,\"room-1,24,,,,,\n", []string{"x.csv:2"}, 0},
		{"empty file", "", []string{"x.csv:1: empty file"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tc.in), "x.csv")
			if tc.want == nil {
				if err != nil || len(got) != tc.n {
					t.Fatalf("ParseCSV = %d configs, %v; want %d, nil", len(got), err, tc.n)
				}
				return
			}
			if err == nil || got != nil {
				t.Fatalf("ParseCSV = %d configs, %v; want nothing and an error", len(got), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Errorf("error %v holds no *LineError", err)
			}
		})
	}
}

func TestWriteCSVRoundTrip(t *testing.T) {
	in := hdr + "alice,room-1,24,26.5,,,300,120\nbob,room-2,,,18,16,,0\n"
	cfgs, err := ParseCSV(strings.NewReader(in), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, cfgs); err != nil {
		t.Fatal(err)
	}
	if b.String() != in {
		t.Errorf("WriteCSV(ParseCSV(x)) =\n%s\nwant\n%s", b.String(), in)
	}
}
