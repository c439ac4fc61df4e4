package fnenv

import (
	"testing"
	"time"
)

func TestInt(t *testing.T) {
	env := map[string]string{"N": "7", "LOW": "0", "HIGH": "11", "WORD": "seven", "SPACE": " 7"}
	for _, tc := range []struct {
		name    string
		want    int
		wantErr string
	}{
		{"UNSET", 3, ""},
		{"N", 7, ""},
		{"LOW", 3, `LOW="0": want a whole number from 1 to 10`},
		{"HIGH", 3, `HIGH="11": want a whole number from 1 to 10`},
		{"WORD", 3, `WORD="seven": want a whole number from 1 to 10`},
		{"SPACE", 3, `SPACE=" 7": want a whole number from 1 to 10`},
	} {
		n, err := Int(func(k string) string { return env[k] }, tc.name, 3, 1, 10)
		if n != tc.want || errText(err) != tc.wantErr {
			t.Errorf("Int(%s) = %d, %v; want %d, %q", tc.name, n, err, tc.want, tc.wantErr)
		}
	}
}

func TestDuration(t *testing.T) {
	env := map[string]string{"TTL": "5m", "ZERO": "0", "NEG": "-1s", "BARE": "60"}
	for _, tc := range []struct {
		name    string
		want    time.Duration
		wantErr string
	}{
		{"UNSET", time.Minute, ""},
		{"TTL", 5 * time.Minute, ""},
		{"ZERO", 0, ""},
		{"NEG", time.Minute, `NEG="-1s": want a duration such as 60s`},
		{"BARE", time.Minute, `BARE="60": want a duration such as 60s`},
	} {
		d, err := Duration(func(k string) string { return env[k] }, tc.name, time.Minute)
		if d != tc.want || errText(err) != tc.wantErr {
			t.Errorf("Duration(%s) = %v, %v; want %v, %q", tc.name, d, err, tc.want, tc.wantErr)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
