package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
)

// TestQuarantineReplayThroughARun: messages a run quarantined, listed, then replayed to it: the
// one a fix mends is a reading, the others come back to the quarantine with their reason.
func TestQuarantineReplayThroughARun(t *testing.T) {
	dir := t.TempDir()
	lakeDir, addrFile := filepath.Join(dir, "lake"), filepath.Join(dir, "addr")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runOut, runErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--mqtt", "127.0.0.1:0",
			"--addr-file", addrFile, "--aggregate-every", "0s", "--quiet", "--clock", "watermark"}, strings.NewReader(""), &runOut, &runErr)
	}()
	broker := wait.File(t, addrFile, 10*time.Second, runErr.String)
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(
		`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":"21,5","msg_id":"a"}`+"\n"+
			`{"device_id":"room-1","event_time":"2026-03-01T08:01:00Z","temperature":"hot","msg_id":"b"}`+"\n"), 0o644))
	code, _, errOut := runCLI(t, "", "simulate", "--broker", broker, "--readings", bad)
	require.Equal(t, 0, code, errOut)
	var listed string
	require.Eventually(t, func() bool {
		_, listed, _ = runCLI(t, "", "quarantine", "list", "--lake", lakeDir)
		return strings.Count(listed, "\n") == 2
	}, 10*time.Second, 50*time.Millisecond)
	assert.Contains(t, listed, "room-1")
	assert.Contains(t, listed, `"temperature":"21,5"`)

	fix := `.temperature |= (sub(","; ".") | tonumber? // .)`
	code, out, errOut := runCLI(t, "", "quarantine", "replay", "--lake", lakeDir, "--fix", fix, "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, `"temperature":21.5`)
	assert.Contains(t, out, "dry run: 2 of 2 records would be sent, 0 left")
	code, out, errOut = runCLI(t, "", "quarantine", "replay", "--lake", lakeDir, "--fix", fix, "--broker", broker)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "sent 2 of 2 records")
	require.Eventually(t, func() bool { // "hot" quarantined again: three records now
		_, listed, _ = runCLI(t, "", "quarantine", "list", "--lake", lakeDir)
		return strings.Count(listed, "\n") == 3
	}, 10*time.Second, 50*time.Millisecond)
	cancel()
	require.Equal(t, 0, <-done, runErr.String())
	assert.Contains(t, runErr.String(), "readings 1,", "the mended one is a reading: %s", runErr.String())
	code, out, _ = runCLI(t, "", "quarantine", "show", "--lake", lakeDir, "--reason", "bad_metric")
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, `"reason":"bad_metric"`), out)

	code, _, errOut = runCLI(t, "", "quarantine", "replay", "--lake", lakeDir)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "give --broker ADDR")
}
