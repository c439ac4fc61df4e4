package outbox_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/outbox"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
)

// TestACrashInsideAWriteBackDeliversTheRestOnce: keep() writes the remainder as <seq>-<left>.jsonl and
// only then removes <seq>-<n>.jsonl. A crash between the two leaves both; the next start counts
// both and delivers the remainder first, then the whole file again.
func TestACrashInsideAWriteBackDeliversTheRestOnce(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(rec.handler())
	defer srv.Close()
	lake, chans := t.TempDir(), channelsFile(t, srv.URL)
	c := channel.Channel{UserID: "alice", Kind: channel.Webhook, Target: srv.URL + "/hook"}
	dir := filepath.Join(lake, outbox.QueueDir, "webhook-"+c.ID())
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ns := notices(0, 3)
	line := func(i int) string {
		b, err := json.Marshal(map[string]any{"alert": ns[i].Alert, "device": ns[i].Device})
		require.NoError(t, err)
		return string(b) + "\n"
	}
	// the state after keep's durable.WriteFile and before its os.Remove
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000005-3.jsonl"), []byte(line(0)+line(1)+line(2)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000005-1.jsonl"), []byte(line(2)), 0o600))
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: chans})
	require.NoError(t, err)
	assert.Equal(t, int64(1), o.Stats().Queued, "one delivery is owed")
	o.Start()
	wait.Until(t, 10*time.Second, "delivered", func() (int64, bool) { q := o.Stats().Queued; return q, q == 0 })
	o.Stop(time.Second, nil, nil)
	assert.Equal(t, []string{"a0000002"}, rec.got(), "a0 and a1 were delivered before the crash")
}

// TestAnUnreadableLineIsSetAside: an unreadable queue line is "set aside" into
// notify-failed/ with durable.WriteFile, but nothing makes that directory; the write error is
// ignored and the line is gone.
func TestAnUnreadableLineIsSetAside(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(rec.handler())
	defer srv.Close()
	lake, chans := t.TempDir(), channelsFile(t, srv.URL)
	c := channel.Channel{UserID: "alice", Kind: channel.Webhook, Target: srv.URL + "/hook"}
	dir := filepath.Join(lake, outbox.QueueDir, "webhook-"+c.ID())
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000001-1.jsonl"), []byte("{not json\n"), 0o600))
	o, err := outbox.Open(outbox.Config{Lake: lake, Channels: chans})
	require.NoError(t, err)
	o.Start()
	wait.Until(t, 10*time.Second, "done", func() (int64, bool) { q := o.Stats().Queued; return q, q == 0 })
	o.Stop(time.Second, nil, nil)
	files, _ := filepath.Glob(filepath.Join(lake, outbox.FailedDir, "*"))
	assert.NotEmpty(t, files, "the unreadable line was set aside")
}
