package runner_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/pki"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// TestHealthAndMetricsOverHTTPS: the HTTP listener with TLS serves /healthz and the Prometheus
// /metrics, and nothing in clear text.
func TestHealthAndMetricsOverHTTPS(t *testing.T) {
	ca := t.TempDir()
	require.NoError(t, pki.InitCA(ca, nil, time.Now()))
	srv, err := pki.ServerTLS(filepath.Join(ca, pki.ServerCert), filepath.Join(ca, pki.ServerKey))
	require.NoError(t, err)
	th, _ := thresholdsFile(t)
	httpAddr := make(chan string, 1)
	p := start(t, t.TempDir(), th, func(c *runner.Config) {
		c.HTTP, c.HTTPTLS, c.LinksReady = "127.0.0.1:0", srv, func(a string) { httpAddr <- a }
	})
	addr := <-httpAddr
	pem, err := os.ReadFile(filepath.Join(ca, pki.CACert))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path string) (int, string) { return getPage(t, client, "https://"+addr+path) }
	code, body := get("/healthz")
	assert.Equal(t, http.StatusOK, code, body)

	msgs := messages{}
	for i := range 10 {
		msgs = append(msgs, simulate.Message{Topic: "devices/room-1/readings",
			Payload: []byte(`{"device_id":"room-1","event_time":"2026-03-01T08:0` + string(rune('0'+i)) + `:00Z","temperature":21}`)})
	}
	_, err = simulate.Publish(context.Background(), &msgs, simulate.Options{Broker: p.addr})
	require.NoError(t, err)
	_, metrics := get("/metrics")
	assert.Equal(t, 10.0, metricValue(t, metrics, "iotwatch_messages_total"))
	assert.GreaterOrEqual(t, metricValue(t, metrics, `iotwatch_log_commit_seconds_bucket{le="+Inf"}`), 1.0)
	assert.Equal(t, metricValue(t, metrics, "iotwatch_log_fsyncs_total"), metricValue(t, metrics, "iotwatch_log_commit_seconds_count"))
	assert.Contains(t, metrics, "# TYPE iotwatch_lag_messages gauge")

	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "served in clear text")
		resp.Body.Close()
	}
	p.finish(t)
}

// TestPagesOnANetworkAddress: on an address other than loopback the dashboard's pages are served
// only with PagesOnNetwork, then read-only (no buttons, no action endpoint); the links and
// /healthz are served either way.
func TestPagesOnANetworkAddress(t *testing.T) {
	ca := t.TempDir()
	require.NoError(t, pki.InitCA(ca, nil, time.Now()))
	srv, err := pki.ServerTLS(filepath.Join(ca, pki.ServerCert), filepath.Join(ca, pki.ServerKey))
	require.NoError(t, err)
	pem, err := os.ReadFile(filepath.Join(ca, pki.CACert))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	th, _ := thresholdsFile(t)
	for _, pages := range []bool{false, true} {
		httpAddr := make(chan string, 1)
		p := start(t, t.TempDir(), th, func(c *runner.Config) {
			c.HTTP, c.HTTPTLS, c.LinkBase, c.PagesOnNetwork = "0.0.0.0:0", srv, "https://iotwatch.example", pages
			c.LinksReady = func(a string) { httpAddr <- a }
		})
		_, port, _ := net.SplitHostPort(<-httpAddr)
		do := func(method, path string) (int, string) {
			req, _ := http.NewRequest(method, "https://127.0.0.1:"+port+path, nil)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := do(http.MethodGet, "/")
		if pages {
			assert.Equal(t, http.StatusOK, code)
			assert.Contains(t, body, "<h1>Overview</h1>")
			_, body = do(http.MethodGet, "/alerts")
			assert.NotContains(t, body, "/actions/")
			code, _ = do(http.MethodPost, "/actions/ack")
			assert.Equal(t, http.StatusNotFound, code, "no action endpoint on a network address") // the mux has no such route
		} else {
			assert.Equal(t, http.StatusNotFound, code)
			assert.Contains(t, body, "Not a link")
		}
		code, _ = do(http.MethodGet, "/healthz")
		assert.Equal(t, http.StatusOK, code)
		p.finish(t)
	}
}
