package runner_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	require.NotNil(t, m, "metric %s in\n%s", name, text)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// TestAFullLogStopsAcknowledgingAndLosesNothing caps the log far below a burst: the broker stops
// acknowledging while the consumers are behind (said in /metrics and /healthz), the publishers
// send again what was not acknowledged, and in the end bronze holds every message.
func TestAFullLogStopsAcknowledgingAndLosesNothing(t *testing.T) {
	th, _ := thresholdsFile(t)
	lakeDir := t.TempDir()
	httpAddr := make(chan string, 1)
	p := start(t, lakeDir, th, func(c *runner.Config) {
		c.MaxLogBytes = 384 << 10 // about 2,000 readings (runner.MinLogBytes is 258 KiB)
		c.BronzeEvery = 500 * time.Millisecond
		c.HTTP, c.LinksReady = "127.0.0.1:0", func(a string) { httpAddr <- a }
	})
	base := "http://" + <-httpAddr
	get := func(path string) (int, string) { return getPage(t, http.DefaultClient, base+path) }
	code, _ := get("/healthz")
	assert.Equal(t, http.StatusOK, code)

	data, err := os.ReadFile("../../../events/occupancy/datatest.txt")
	require.NoError(t, err)
	src, err := simulate.NewDevices(data, "datatest.txt", 3)
	require.NoError(t, err)
	q := &pending{index: map[string]int{}}
	for {
		m, err := src.Next()
		if err != nil {
			break
		}
		q.index[string(m.Payload)] = len(q.all)
		q.all = append(q.all, m)
	}
	q.acked = make([]bool, len(q.all))
	sawFull := false
	scraping := make(chan struct{})
	scraped := make(chan struct{})
	go func() { // scrapes while the run works: the metrics read what the run writes
		defer close(scraped)
		for {
			select {
			case <-scraping:
				return
			case <-time.After(5 * time.Millisecond):
				if resp, err := http.Get(base + "/metrics"); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	for round := 0; q.acknowledged() < len(q.all); round++ {
		require.Less(t, round, 50, "not everything acknowledged after 50 rounds")
		q.mu.Lock()
		q.next = 0
		q.mu.Unlock()
		_, _ = simulate.Publish(context.Background(), q, simulate.Options{Broker: p.addr, Acked: q.ack, Inflight: 512, Timeout: time.Second})
		if code, body := get("/healthz"); code == http.StatusServiceUnavailable {
			assert.Contains(t, body, "log full")
			sawFull = true
		}
	}
	close(scraping)
	<-scraped
	_, metrics := get("/metrics")
	refused := metricValue(t, metrics, `iotwatch_mqtt_refused_total{reason="not_kept"}`)
	assert.Greater(t, refused, 0.0, "the burst filled the log")
	assert.LessOrEqual(t, metricValue(t, metrics, "iotwatch_log_bytes"), float64(384<<10), "the log stayed within its cap")
	sum := p.finish(t)

	bronze := map[string]int{}
	for _, l := range readLake(t, lakeDir, "bronze") {
		bronze[l]++
	}
	lost := 0
	for _, m := range q.all {
		if bronze[string(m.Payload)] == 0 {
			lost++
		}
	}
	assert.Zero(t, lost, "acknowledged messages missing from bronze")
	// Some are taken twice: acknowledged after the publisher gave up waiting, and sent again.
	assert.GreaterOrEqual(t, sum.Messages, int64(len(q.all)))
	t.Logf("%d messages; %.0f refused while the log was full (healthz said so: %v); %s", len(q.all), refused, sawFull, sum)
}
