package awstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/testsupport/need"
)

// Dynalite starts dynalite (npm, pinned in package.json; installed by `npm ci`) on a free
// loopback port, in memory, and returns its URL; the test or benchmark is skipped when it is not
// installed. minidyn answers a Query by reading every item of the table or index, which is
// right but makes a fleet of 100,000 devices take minutes a run; dynalite keeps items in sorted
// LevelDB ranges, as DynamoDB keeps partitions, so that fleet-scale benchmarks measure the code
// and not the emulator.
func Dynalite(t testing.TB) string {
	t.Helper()
	bin, err := moduleFile("node_modules/.bin/dynalite")
	if err != nil {
		need.Missing(t, need.NodeModules, fmt.Sprintf("dynalite is not installed (npm ci installs it): %v", err))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--createTableMs", "0", "--updateTableMs", "0", "--deleteTableMs", "0")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dynalite: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("dynalite did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// moduleFile finds rel under the module's root (the directory with go.mod, above the test's).
func moduleFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, rel)
			_, err := os.Stat(p)
			return p, err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
