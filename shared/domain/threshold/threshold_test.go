package threshold

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const hdr = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n"

const all = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds,temp_hysteresis,light_hysteresis,silent_seconds,stuck_seconds,temp_zscore,remind_seconds\n"

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
		// Columns by name, in any order; only user_id and device_id are required.
		{"columns in another order", "device_id,temp_warning,user_id\nroom-1,24,alice\n", nil, 1},
		{"only the required columns", "user_id,device_id\nalice,room-1\n", nil, 1},
		{"an unknown column", "user_id,device_id,temp_warn\nalice,room-1,24\n", []string{"x.csv:1: temp_warn: unknown column"}, 0},
		{"a column named twice", "user_id,device_id,temp_warning,temp_warning\nalice,room-1,24,25\n", []string{"x.csv:1: temp_warning: column named twice"}, 0},
		{"no device_id column", "user_id,temp_warning\nalice,24\n", []string{"x.csv:1: device_id: required column missing"}, 0},
		// The second-edition columns.
		{"every column", all + "alice,room-1,24,26,18,16,300,60,0.5,20,600,1800,3,3600\n", nil, 1},
		{"negative hysteresis", "user_id,device_id,temp_hysteresis\nalice,room-1,-0.5\n", []string{"x.csv:2: temp_hysteresis: -0.5 is negative"}, 0},
		{"silence under a minute", "user_id,device_id,silent_seconds\nalice,room-1,59\n", []string{"x.csv:2: silent_seconds: 59 is less than 60"}, 0},
		{"silence of 0 is not off", "user_id,device_id,silent_seconds\nalice,room-1,0\n", []string{"silent_seconds: 0 is less than 60 (leave the cell empty to turn it off)"}, 0},
		{"stuck of 0", "user_id,device_id,stuck_seconds\nalice,room-1,0\n", []string{"stuck_seconds: 0 is less than 1"}, 0},
		{"z-score of 0", "user_id,device_id,temp_zscore\nalice,room-1,0\n", []string{"temp_zscore: 0 is not above 0"}, 0},
		{"reminders under 5 minutes", "user_id,device_id,remind_seconds\nalice,room-1,299\n", []string{"remind_seconds: 299 is less than 300"}, 0},
		{"reminders over 7 days", "user_id,device_id,remind_seconds\nalice,room-1,604801\n", []string{"remind_seconds: 604801 is more than 604800"}, 0},
		{"empty new cells are off", all + "alice,room-1,24,,,,,,,,,,,\n", nil, 1},
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
	in := strings.TrimSuffix(all, "\n") + ",version\n" + "alice,room-1,24,26.5,,,300,120,0.5,,600,,2.5,3600,0\nbob,room-2,,,18,16,,0,,50,,1800,,,0\n"
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

func TestVersions(t *testing.T) {
	v1 := Config{UserID: "alice", DeviceID: "room-1", TempWarning: Of(24), Version: 3}
	same := v1
	same.Version = 0
	changed := same
	changed.TempHysteresis = Of(0.5)
	if got := NextVersion(same, v1, true); got != 3 {
		t.Errorf("an unchanged config: version %d; want 3, kept", got)
	}
	if got := NextVersion(changed, v1, true); got != 4 {
		t.Errorf("a changed config: version %d; want 4", got)
	}
	if got := NextVersion(changed, Config{}, false); got != 1 {
		t.Errorf("a new config: version %d; want 1", got)
	}
}
