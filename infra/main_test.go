package main

import (
	"math"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/infra/pipeline"
)

func TestAlarmEmail(t *testing.T) {
	for _, tc := range []struct {
		v                string
		deploying        bool
		email, warn, err string
	}{
		{"ops@example.com", true, "ops@example.com", "", ""},
		{"ops@example.com", false, "ops@example.com", "", ""},
		{"none", true, "", "", ""},
		{"", true, "", "", "context alarmEmail is empty"},
		{"", false, "", "no one is subscribed", ""},
		{"ops", true, "", "", "is not one email address"},
		{"a@x.com,b@x.com", false, "", "", "is not one email address"},
	} {
		email, warn, err := alarmEmail(tc.v, tc.deploying)
		if email != tc.email || !strings.Contains(warn, tc.warn) || (tc.warn == "") != (warn == "") ||
			(tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("alarmEmail(%q, %v) = %q, %q, %v", tc.v, tc.deploying, email, warn, err)
		}
	}
}

func TestTableCapacity(t *testing.T) {
	for _, tc := range []struct {
		mode, reads, writes string
		want                *pipeline.TableCapacity
		err                 string
	}{
		{"on-demand", "1-1000", "1-1000", nil, ""},
		{"on-demand", "junk", "junk", nil, ""}, // the ranges matter only when provisioned
		{"provisioned", "1-1000", "200-2000", &pipeline.TableCapacity{MinReads: 1, MaxReads: 1000, MinWrites: 200, MaxWrites: 2000}, ""},
		{"provisioned", "5-5", "1-40000", &pipeline.TableCapacity{MinReads: 5, MaxReads: 5, MinWrites: 1, MaxWrites: 40000}, ""},
		{"provisioned", "0-10", "1-10", nil, "tableReads=\"0-10\""},
		{"provisioned", "1-10", "10-1", nil, "tableWrites=\"10-1\""},
		{"provisioned", "1-10", "100", nil, "tableWrites=\"100\""},
		{"provisioned", "1-10", "1-40001", nil, "tableWrites"},
		{"provisioned", "1.5-10", "1-10", nil, "tableReads"},
		{"Provisioned", "1-10", "1-10", nil, "want on-demand or provisioned"},
	} {
		got, err := tableCapacity(tc.mode, tc.reads, tc.writes)
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("tableCapacity(%q, %q, %q) error %v, want %q", tc.mode, tc.reads, tc.writes, err, tc.err)
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("tableCapacity(%q, %q, %q) = %+v, want %+v", tc.mode, tc.reads, tc.writes, got, tc.want)
		}
	}
}

func TestLinksConcurrency(t *testing.T) {
	for _, tc := range []struct {
		v  float64
		ok bool
	}{{0, true}, {5, true}, {2000, true}, {-1, false}, {2.5, false}, {math.Inf(1), false}} {
		err := linksConcurrency(tc.v)
		if (err == nil) != tc.ok {
			t.Errorf("linksConcurrency(%v) = %v", tc.v, err)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want float64
		err  bool
	}{
		{nil, DefaultHeartbeat, false},
		{"off", 0, false},
		{"1", 1, false},
		{"600", 600, false},
		{float64(50), 50, false}, // from cdk.json, a JSON number
		{"0", 0, true},           // 0 would never page: say off
		{"-5", 0, true},
		{"2.5", 0, true},
		{float64(0.5), 0, true},
		{"Off", 0, true},
		{"", 0, true},
		{true, 0, true},
	} {
		got, err := heartbeat(tc.v)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("heartbeat(%#v) = %v, %v; want %v, error %v", tc.v, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "context heartbeat=") {
			t.Errorf("heartbeat(%#v): the error does not name the key: %v", tc.v, err)
		}
	}
}

func TestPagerDutyURL(t *testing.T) {
	for _, tc := range []struct{ v, want, err string }{
		{"", "https://events.pagerduty.com/v2/enqueue", ""},
		{"https://pd.example.com/v2/enqueue", "https://pd.example.com/v2/enqueue", ""},
		{"http://pd.example.com/v2/enqueue", "", "use https"},
		{"events.pagerduty.com", "", "not an absolute URL"},
	} {
		got, err := pagerDutyURL(tc.v)
		if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("pagerDutyURL(%q) = %q, %v; want %q, %q", tc.v, got, err, tc.want, tc.err)
		}
	}
}
