package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
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

// TestQuarantineReplayEscapesWhatTheFixSays is the regression test of issue 26's F6: a jq
// program's error value (a record's own bytes, as often as not) reached the terminal raw, control
// characters and all. replay's lines are escaped as list's and show's are.
func TestQuarantineReplayEscapesWhatTheFixSays(t *testing.T) {
	lakeDir := t.TempDir()
	objects, err := lake.QuarantineObjects("batch-1", []lake.Rejected{{Reason: "bad_metric", Detail: "temperature",
		ArrivalTime: time.Now().UTC().Add(-time.Minute), TopicDevice: "room-1", Source: "s-1",
		DataBase64: []byte(`{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z","temperature":"\u001b[2J"}`)}}, time.Now())
	require.NoError(t, err)
	for key, body := range objects {
		path := filepath.Join(lakeDir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, body, 0o644))
	}
	code, out, errOut := runCLI(t, "", "quarantine", "replay", "--lake", lakeDir, "--fix", `error(.temperature + "\r\u0007gone")`, "--dry-run")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "dry run: 0 of 1 records would be sent, 1 left")
	for _, c := range strings.TrimSuffix(out, "\n") {
		if c != '\n' {
			assert.False(t, unicode.IsControl(c), "a control character %U reached the terminal: %q", c, out)
		}
	}
	assert.Contains(t, out, `\u001b[2J\u000d\u0007gone`, "the error value, escaped")
}
