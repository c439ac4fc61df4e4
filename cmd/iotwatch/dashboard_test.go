package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
)

func TestReport(t *testing.T) {
	root := occupancyLake(t)
	out := filepath.Join(t.TempDir(), "week.html")
	rules := writeFile(t, "rules.csv", "user_id,scope,metric,rule,warning\nops,location:Building A floor 2,co2,high,900\n")
	code, stdout, stderr := runCLI(t, "", "report", "--lake", root, "--devices", "../../events/devices.csv", "--thresholds", "../../events/thresholds.csv",
		"--rules", rules, "--from", "2015-02-02", "--to", "2015-02-05", "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "report of 2015-02-02T00:00:00Z to 2015-02-05T00:00:00Z written to "+out)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	html := string(b)
	assert.Contains(t, html, "Office 1 (room-1)")
	assert.Contains(t, html, "uPlot") // the chart code is inside: it opens with no network
	assert.NotContains(t, html, `src="/assets`)
	assert.Contains(t, html, "temperature_high")
	assert.Contains(t, html, "dashed: ops co2 high warning, 900 ppm", "room-1's location's rule, from --rules and --devices")

	code, stdout, stderr = runCLI(t, "", "report", "--lake", root, "--to", "2015-02-05", "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "report of 2015-01-29T00:00:00Z to 2015-02-05T00:00:00Z", "--to alone: the 7 days before it")

	code, stdout, stderr = runCLI(t, "", "report", "--lake", root, "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "report of 2015-01-28T11:00:00Z to 2015-02-04T11:00:00Z", "by default the 7 days to the end of the hour of the last reading (10:43)")

	code, _, stderr = runCLI(t, "", "report", "--lake", root, "--from", "yesterday", "--out", out)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `--from "yesterday": want a day`)
}

// TestReportChartsTheDeclaredMetrics: --metrics reaches the pages: room-1's pm25 (its hourly
// values in hourly_metric_values) has a chart in the report, in µg/m³, with ops's pm25 rule.
func TestReportChartsTheDeclaredMetrics(t *testing.T) {
	root := occupancyLake(t)
	hour := time.Date(2015, 2, 3, 10, 0, 0, 0, time.UTC)
	gold := filepath.Join(root, filepath.FromSlash(lake.HourFile(lake.HourlyMetricValuesTable.Prefix, hour)))
	require.NoError(t, os.MkdirAll(filepath.Dir(gold), 0o755))
	eng, err := duckdbengine.Open(context.Background(), root)
	require.NoError(t, err)
	_, err = eng.DB().Exec(`COPY (SELECT 'room-1' AS device_id, TIMESTAMP '2015-02-03 10:00:00' AS hour_start, 'pm25' AS metric, 60::BIGINT AS readings,
		12.0 AS value_min, 20.5 AS value_avg, 41.0 AS value_max, 40.0 AS value_p95) TO '` + gold + `' (FORMAT parquet)`)
	require.NoError(t, err)
	require.NoError(t, eng.Close())
	rules := writeFile(t, "rules.csv", "user_id,scope,metric,rule,warning\nops,fleet,pm25,high,35\n")
	out := filepath.Join(t.TempDir(), "week.html")
	code, _, stderr := runCLI(t, "", "report", "--lake", root, "--devices", "../../events/devices.csv", "--metrics", "../../events/metrics.csv",
		"--rules", rules, "--from", "2015-02-02", "--to", "2015-02-05", "--out", out)
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	html := string(b)
	assert.Contains(t, html, `id="chart-room-1-pm25"`)
	assert.Contains(t, html, "dashed: ops pm25 high warning, 35 µg/m³")
	assert.NotContains(t, html, `id="chart-room-1-voc"`, "declared, never sent")
}

func TestServe(t *testing.T) {
	root := occupancyLake(t)
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--lake", root, "--devices", "../../events/devices.csv", "--http", "127.0.0.1:0", "--addr-file", addrFile},
			strings.NewReader(""), io.Discard, &errb)
	}()
	var addr string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(addrFile)
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != ""
	}, 20*time.Second, 20*time.Millisecond)
	for _, p := range []string{"/", "/device/room-1", "/alerts", "/heatmap", "/pipeline"} {
		res, err := http.Get("http://" + addr + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, p)
		assert.Contains(t, string(body), "This lake's readings end at", p) // a 2015 recording: its last day is shown
	}
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	code, _, stderr := runCLI(t, "", "serve", "--lake", root, "--http", "0.0.0.0:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "refusing to serve the network without TLS")
}
