package lake

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/testsupport/need"
)

// TestPartitionQueryWithJQ16 runs the Firehose expression with jq 1.6 (Debian's, the version
// Firehose runs) over every spelling of event_time the decoder accepts, and checks it names the
// same UTC hour as the decoder; and that what the decoder refuses does not land in a partition.
func TestPartitionQueryWithJQ16(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		need.Missing(t, need.JQ, "jq is not installed (apt-get install jq; .ci/run does)")
	}
	if out, _ := exec.Command(jq, "--version").Output(); strings.TrimSpace(string(out)) != "jq-1.6" {
		t.Logf("jq is %s, not Firehose's 1.6", strings.TrimSpace(string(out)))
	}
	valid := []string{
		"2015-02-02T14:19:00Z", "2015-02-02T14:19:00.5Z", "2015-02-02T14:59:59.999999999Z",
		"2015-02-02T00:30:00+01:00", "2015-02-02T23:30:00-01:00", "2015-12-31T23:59:59-05:30",
		"2016-02-29T00:10:00+00:30", "2015-02-02T14:19:00-00:00", "2015-02-02T14:19:00.123+05:45",
		"2015-03-01T00:00:00+14:00", "2015-02-28T23:00:00-12:00", "1999-12-31T23:59:59.1-00:01",
		"2024-02-29T12:00:00+23:59", "2026-03-01T07:00:00Z",
	}
	invalid := []string{"2015-02-02 14:19:00Z", "2015-02-02T14:19:00", "2015-02-02T14:19:00z", "2015-02-02T14:19:00+0100",
		"2015-02-02", "", "not a time", "2015-02-02T14:19:00.Z", "2015-02-02T14:19:00.1234567890Z"}
	query := PartitionQuery("event_time")
	run := func(et string) (map[string]string, error) {
		in, _ := json.Marshal(map[string]string{"device_id": "room-1", "event_time": et})
		cmd := exec.Command(jq, "-c", query)
		cmd.Stdin = strings.NewReader(string(in))
		out, err := cmd.Output()
		if err != nil {
			return nil, err
		}
		var got map[string]string
		if strings.TrimSpace(string(out)) == "" {
			return nil, nil
		}
		err = json.Unmarshal(out, &got)
		return got, err
	}
	for _, et := range valid {
		want, ok := reading.ParseTime([]byte(et))
		if !ok {
			t.Fatalf("the decoder refuses %q: fix the test", et)
		}
		got, err := run(et)
		if err != nil || got["dt"] != want.Format("2006-01-02") || got["hour"] != want.Format("15") {
			t.Errorf("jq partition of %q = %v, %v; want dt=%s hour=%s", et, got, err, want.Format("2006-01-02"), want.Format("15"))
		}
	}
	// Batched messages: the first element's time, as reading.PartitionHour files them; none when
	// it has no time the decoder reads.
	for _, tc := range []struct{ msg, dt, hour string }{
		{`{"device_id":"m","readings":[{"event_time":"2026-06-01T10:59:00+01:00","power_w":1},{"event_time":"2026-06-01T11:00:00Z","power_w":2}]}`, "2026-06-01", "09"},
		{`{"device_id":"m","event_time":"2026-06-01T23:00:00Z","readings":[{"event_time":"2026-06-02T00:10:00Z","power_w":1}]}`, "2026-06-02", "00"},
		{`{"device_id":"m","readings":[{"power_w":1},{"event_time":"2026-06-01T11:00:00Z"}]}`, "", ""},
		{`{"device_id":"m","readings":[]}`, "", ""},
		{`{"device_id":"m","readings":"x"}`, "", ""},
	} {
		hour, ok := reading.PartitionHour([]byte(tc.msg), "event_time")
		if ok != (tc.dt != "") || ok && (hour.Format("2006-01-02") != tc.dt || hour.Format("15") != tc.hour) {
			t.Fatalf("reading.PartitionHour(%s) = %v, %v: fix the test", tc.msg, hour, ok)
		}
		cmd := exec.Command(jq, "-c", query)
		cmd.Stdin = strings.NewReader(tc.msg)
		out, err := cmd.Output()
		var got map[string]string
		if err == nil && strings.TrimSpace(string(out)) != "" {
			err = json.Unmarshal(out, &got)
		}
		if tc.dt == "" {
			if err == nil && got != nil {
				t.Errorf("jq partitions %s as %v; the decoder's partition has none", tc.msg, got)
			}
			continue
		}
		if err != nil || got["dt"] != tc.dt || got["hour"] != tc.hour {
			t.Errorf("jq partition of %s = %v, %v; want dt=%s hour=%s", tc.msg, got, err, tc.dt, tc.hour)
		}
	}
	for _, et := range invalid {
		if _, ok := reading.ParseTime([]byte(et)); ok {
			t.Fatalf("the decoder accepts %q: fix the test", et)
		}
		if got, err := run(et); err == nil && got != nil {
			t.Errorf("jq partitions %q as %v; the decoder refuses it, so it must go to the error prefix", et, got)
		}
	}

}

func TestPartitionQueryIsOneLine(t *testing.T) {
	q := PartitionQuery("alert_time")
	if strings.Contains(q, "\n") || strings.Contains(q, "#") || !strings.Contains(q, "else . end) | .alert_time |") {
		t.Errorf("PartitionQuery = %q", q)
	}
}
