package runner_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/wal"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// taggedReadings are n readings of five devices an hour before now, each marked with tag.
func taggedReadings(n int, tag string) messages {
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	var m messages
	for i := range n {
		dev := fmt.Sprintf("room-%d", i%5)
		m = append(m, simulate.Message{Topic: "devices/" + dev + "/readings",
			Payload: fmt.Appendf(nil, `{"device_id":%q,"event_time":%q,"temperature":21,"msg_id":"%s-%d"}`, dev,
				base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), tag, i)})
	}
	return m
}

// TestALogBehindItsCheckpointsRefusesToStart (F1): with the log's segment gone, the consumers'
// checkpoints are past its end: a start would acknowledge messages the evaluation and bronze
// skip (it did: "messages 1000, readings 0, bronze 0"). The run refuses to start and says why;
// with RepairLog it starts, and the next messages reach the lake.
func TestALogBehindItsCheckpointsRefusesToStart(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	p := start(t, lakeDir, th)
	first := taggedReadings(300, "a")
	_, err := simulate.Publish(context.Background(), &first, simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	sum := p.finish(t)
	require.Equal(t, 300, sum.Readings)
	segs, _ := filepath.Glob(filepath.Join(lakeDir, runner.LogDir, "*.seg"))
	require.NotEmpty(t, segs)
	for _, s := range segs {
		require.NoError(t, os.Remove(s))
	}

	_, err = runner.Run(context.Background(), runner.Config{Lake: lakeDir, Thresholds: th, MQTT: "127.0.0.1:0", Clock: runner.ClockWatermark})
	require.ErrorIs(t, err, wal.ErrBehind)
	assert.Contains(t, err.Error(), "acknowledged records are missing")

	before := len(readLake(t, lakeDir, "bronze"))
	p = start(t, lakeDir, th, func(c *runner.Config) { c.RepairLog = true })
	next := taggedReadings(200, "b")
	_, err = simulate.Publish(context.Background(), &next, simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	sum = p.finish(t)
	assert.Equal(t, 200, sum.Readings, "every message after the repair is evaluated")
	assert.Equal(t, before+200, len(readLake(t, lakeDir, "bronze")), "and in bronze")
}

// TestAnUnreadableSegmentStopsAcknowledging (F2): a damaged older segment stops a reader of the
// log. The run says so at once: /healthz fails with the reason, /metrics counts it, the log has
// the error, and the broker stops acknowledging (it went on, with 200 on /healthz, until the log
// was full).
func TestAnUnreadableSegmentStopsAcknowledging(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	// A log the consumers have not read yet, in segments of 10 KiB, its records framed as the
	// runner frames them.
	l, err := wal.Open(filepath.Join(lakeDir, runner.LogDir), wal.Options{SegmentBytes: 10 << 10, Consumers: []string{"evaluate", "bronze"}})
	require.NoError(t, err)
	for _, m := range taggedReadings(1000, "a") {
		dev := m.Topic[len("devices/") : len(m.Topic)-len("/readings")]
		b := binary.AppendUvarint(nil, uint64(len(dev)))
		b = binary.LittleEndian.AppendUint64(append(b, dev...), uint64(time.Now().UnixNano()))
		_, err := l.Append(append(b, m.Payload...))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs, _ := filepath.Glob(filepath.Join(lakeDir, runner.LogDir, "*.seg"))
	require.Greater(t, len(segs), 3)
	f, err := os.OpenFile(segs[1], os.O_RDWR, 0) // a sealed segment, not the last: Open does not read it
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xAA}, 100)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	httpAddr := make(chan string, 1)
	var logs syncBuffer
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
		c.HTTP, c.LinksReady = "127.0.0.1:0", func(a string) { httpAddr <- a }
	})
	base := "http://" + <-httpAddr
	get := func(path string) (int, string) { return getPage(t, http.DefaultClient, base+path) }
	body := wait.Until(t, 10*time.Second, "/healthz to fail", func() (string, bool) {
		code, body := get("/healthz")
		return fmt.Sprint(code, " ", body), code == http.StatusServiceUnavailable
	})
	assert.Contains(t, body, "log unreadable")
	_, metrics := get("/metrics")
	assert.GreaterOrEqual(t, metricValue(t, metrics, `iotwatch_log_read_errors_total{consumer="evaluate"}`)+
		metricValue(t, metrics, `iotwatch_log_read_errors_total{consumer="bronze"}`), 1.0)
	assert.Contains(t, logs.String(), "LOG UNREADABLE", "logged at once, not at exit")

	more := taggedReadings(100, "b")
	res, _ := simulate.Publish(context.Background(), &more, simulate.Options{Broker: p.addr, Timeout: time.Second})
	assert.Zero(t, res.Acked, "nothing is acknowledged that could not be landed")
	p.stop()
	<-p.done
	require.Error(t, p.err, "the run ends with the reader's error")
}
