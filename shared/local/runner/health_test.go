package runner_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// TestHealthAndMetricsAnswerLoopbackNamesOnly: on a loopback address, /healthz and /metrics
// refuse a request for another name (a site whose name resolves to 127.0.0.1: DNS rebinding), as
// the dashboard's pages do.
func TestHealthAndMetricsAnswerLoopbackNamesOnly(t *testing.T) {
	th, _ := thresholdsFile(t)
	httpAddr := make(chan string, 1)
	p := start(t, t.TempDir(), th, func(c *runner.Config) {
		c.HTTP, c.LinksReady = "127.0.0.1:0", func(a string) { httpAddr <- a }
	})
	defer p.finish(t)
	addr := <-httpAddr
	for _, tc := range []struct {
		host string
		want int
	}{
		{addr, http.StatusOK},
		{"localhost", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"evil.example:8080", http.StatusForbidden},
		{"evil.example", http.StatusForbidden},
		{"192.168.1.10", http.StatusForbidden},
	} {
		for _, path := range []string{"/healthz", "/metrics"} {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			require.NoError(t, err)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode, "GET %s with Host %s", path, tc.host)
		}
	}
}

// TestLogFullClearsWhenRoomReturns fills a capped log with a burst, then publishes nothing more:
// once the consumers' checkpoints free the segments, /healthz and /metrics say the log has room,
// without waiting for a new message (a publisher told "not kept" may never send one).
func TestLogFullClearsWhenRoomReturns(t *testing.T) {
	th, _ := thresholdsFile(t)
	httpAddr := make(chan string, 1)
	p := start(t, t.TempDir(), th, func(c *runner.Config) {
		c.MaxLogBytes = runner.MinLogBytes // about 2,200 readings
		c.HTTP, c.LinksReady = "127.0.0.1:0", func(a string) { httpAddr <- a }
	})
	defer p.finish(t)
	base := "http://" + <-httpAddr
	src := newSliceSource(readingsOf(8000, 5, 60, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	// The publisher gives up at the first refusal it waits for: the last the log did was refuse.
	_, err := simulate.Publish(context.Background(), src, simulate.Options{Broker: p.addr, Inflight: 512, Timeout: time.Second})
	require.Error(t, err, "not everything was acknowledged")
	_, metrics := getPage(t, http.DefaultClient, base+"/metrics")
	require.Greater(t, metricValue(t, metrics, `iotwatch_mqtt_refused_total{reason="not_kept"}`), 0.0, "the burst filled the log")

	require.Eventually(t, func() bool {
		_, metrics := getPage(t, http.DefaultClient, base+"/metrics")
		return metricValue(t, metrics, "iotwatch_log_full") == 0
	}, 20*time.Second, 100*time.Millisecond, "log_full back to 0 once the checkpoints freed room, with no new message")
	code, body := getPage(t, http.DefaultClient, base+"/healthz")
	assert.Equal(t, http.StatusOK, code, body)
}
