package main

import (
	"strings"
	"testing"
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
