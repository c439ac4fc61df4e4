// Package need skips a test whose tool is missing on a developer's machine, and fails it where
// the tool is required: IOTWATCH_REQUIRE names the tools a run must have (a comma list, or "all";
// .ci/run sets "all", so that a missing tool in CI is a failure, not a silent skip). Test code only.
package need

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The tools tests look for.
const (
	Chromium    = "chromium"     // the browser tests (chromedp)
	JQ          = "jq"           // the Firehose partition expression, run with jq 1.6
	NodeModules = "node_modules" // npm ci: the pinned chart library, dynalite
)

// Required reports whether IOTWATCH_REQUIRE names tool (or is "all").
func Required(tool string) bool {
	v := os.Getenv("IOTWATCH_REQUIRE")
	return v == "all" || slices.Contains(strings.Split(v, ","), tool)
}

// Missing ends t because tool is missing: a failure when the tool is Required, else a skip. why
// says what is missing and how to install it.
func Missing(t testing.TB, tool, why string) {
	t.Helper()
	if Required(tool) {
		t.Fatalf("%s (IOTWATCH_REQUIRE names %s: a missing tool fails the test)", why, tool)
	}
	t.Skipf("%s (skipped; IOTWATCH_REQUIRE=%s makes it a failure)", why, tool)
}
