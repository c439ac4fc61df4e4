// Package wait orders a test's events by what it can observe, not by sleeping: Until polls a
// probe until it says done, and on timeout fails the test with what it saw last. Test code only.
package wait

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Every is how often a probe is called.
const Every = 10 * time.Millisecond

// Until calls probe (on the test's goroutine) every Every until it reports done, and returns its
// last value. After timeout it fails t: "waited 5s for <what>; last seen: <value>".
func Until[T any](t testing.TB, timeout time.Duration, what string, probe func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, done := probe()
		if done {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last seen: %v", timeout, what, v)
		}
		time.Sleep(Every)
	}
}

// File waits until path holds something (an --addr-file, written whole), and returns it
// trimmed. On timeout it fails t with context() (what the process said, say), called only then.
func File(t testing.TB, path string, timeout time.Duration, context func() string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if c := strings.TrimSpace(string(b)); c != "" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s to be written; the process said: %s", timeout, path, context())
		}
		time.Sleep(Every)
	}
}
