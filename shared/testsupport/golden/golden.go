// Package golden compares test output with files under testdata/. `IOTWATCH_UPDATE=1 go test
// ./...` (make golden) rewrites them from the root, in every package at once; `go test -update`
// does it in a package that uses golden. Test code only.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ (or set IOTWATCH_UPDATE=1)")

// Updating reports whether golden files are to be rewritten: -update, or IOTWATCH_UPDATE=1. The
// variable is read at each call, during the test, so that go test's cache knows of it.
func Updating() bool { return *update || os.Getenv("IOTWATCH_UPDATE") == "1" }

// Check compares got with testdata/name (rewriting it first when Updating).
func Check(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (make golden creates it)", err)
	}
	assert.Equal(t, string(want), got, "%s differs (make golden rewrites it, deliberately)", path)
}
