package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
	"github.com/iotwatch/iotwatch/shared/tools/occupancy"
)

// occupancyLake writes the bundled recording as bronze (one object per hour) and the backtest's
// alerts as the alerts table, the way the pipeline would have landed them: the thresholds file's
// (temperature, light, stuck) and events/rules.csv's (co2_high for room-1's building, humidity_low
// and silent for the fleet).
func occupancyLake(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	put := func(prefix string, byHour map[time.Time][]byte) {
		for hour, data := range byHour {
			dir := filepath.Join(root, filepath.FromSlash(lake.Partition(prefix, hour)))
			os.MkdirAll(dir, 0o755)
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			if err := os.WriteFile(filepath.Join(dir, "part-0.json.gz"), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := os.Open("../../events/occupancy/datatest.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bronze := map[time.Time][]byte{}
	r := occupancy.NewReader(f, "datatest.txt", "room-1")
	for {
		row, err := r.Next()
		if err != nil {
			break
		}
		h := row.EventTime.Truncate(time.Hour)
		bronze[h] = append(append(bronze[h], row.Message...), '\n')
	}
	put(lake.Bronze, bronze)
	_, out, _ := runCLI(t, "", "backtest", "--thresholds", "../../events/thresholds.csv", "--rules", "../../events/rules.csv",
		"--devices", "../../events/devices.csv", "--csv", "../../events/occupancy/datatest.txt", "--device", "room-1")
	alerts := map[time.Time][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a alert.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		h := a.AlertTime.Truncate(time.Hour)
		alerts[h] = append(append(alerts[h], line...), '\n')
	}
	// What people did and the digests they got are rows of the same table.
	end := time.Date(2015, 2, 3, 7, 0, 0, 0, time.UTC)
	digest := alert.NewDigest("alice", end, nil)
	ack := alert.Alert{Kind: "ACK", AlertTime: end.Add(time.Minute), UserID: "bob", DeviceID: "room-1", Rule: alert.TemperatureLow,
		Severity: alert.Warning, Via: "link"}
	ack.AlertID = alert.ID(&ack)
	for _, a := range []alert.Alert{digest, ack} {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		h := a.AlertTime.Truncate(time.Hour)
		alerts[h] = append(append(alerts[h], b...), '\n')
	}
	put(lake.Alerts, alerts)
	return root
}

func TestAggregateAndQueryALocalLake(t *testing.T) {
	root := occupancyLake(t)
	args := []string{"aggregate", "--lake", root, "--from", "2015-02-02T14", "--to", "2015-02-04T11"}
	for i := 0; i < 2; i++ {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "aggregated 45 hours") {
			t.Fatalf("aggregate: exit %d, %s %s", code, out, errOut)
		}
	}
	code, out, errOut := runCLI(t, "", "query", "--lake", root, "--format", "csv",
		"SELECT count(*) AS hours, sum(readings) AS readings, sum(alerts_warning) AS warnings, sum(alerts_violation) AS violations, min(hour_start) AS first FROM hourly_metrics")
	if code != 0 {
		t.Fatalf("query: exit %d, %s", code, errOut)
	}
	// 2,665 readings over 45 hours; the backtest raised 23 OPEN WARNING alerts (REMIND does not count:
	// 17 of the thresholds file, 4 co2_high and 2 humidity_low of events/rules.csv) and 1 ESCALATE
	// VIOLATION
	want := "hours,readings,warnings,violations,first\n45,2665,23,1,2015-02-02T14:00:00Z\n"
	if out != want {
		t.Errorf("query:\n%s\nwant:\n%s", out, want)
	}
	// the Athena example queries run on the same names
	code, out, _ = runCLI(t, "", "query", "--lake", root, "SELECT device_id, max(event_time) AS latest FROM bronze_readings GROUP BY device_id")
	if code != 0 || !strings.Contains(out, "2015-02-04T10:43:00Z") || !strings.Contains(out, "(1 rows)") {
		t.Errorf("latest reading: %s", out)
	}
	code, out, _ = runCLI(t, "", "query", "--lake", root, "--format", "jsonl", "SELECT kind, count(*) AS n FROM alerts GROUP BY kind ORDER BY kind")
	if code != 0 || out != "{\"kind\":\"ACK\",\"n\":1}\n{\"kind\":\"DIGEST\",\"n\":1}\n{\"kind\":\"ESCALATE\",\"n\":1}\n{\"kind\":\"OPEN\",\"n\":23}\n{\"kind\":\"REMIND\",\"n\":12}\n{\"kind\":\"RESOLVE\",\"n\":20}\n" {
		t.Errorf("alerts by kind: %q", out)
	}
}

// readmeQueries are the example queries of docs/queries.md (its "Example queries" SQL block, read
// from the file so that they cannot drift): they must run locally as they do on Athena.
func readmeQueries(t *testing.T) []string {
	b, err := os.ReadFile("../../docs/queries.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Example queries")
	if !ok {
		t.Fatal("docs/queries.md has no Example queries section")
	}
	_, rest, _ = strings.Cut(rest, "```sql\n")
	block, _, _ := strings.Cut(rest, "```")
	// comment lines out first: a comment may hold a semicolon
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") && strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	var out []string
	for _, q := range strings.Split(strings.Join(lines, "\n"), ";") {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	if len(out) < 14 {
		t.Fatalf("read %d queries from docs/queries.md", len(out))
	}
	return out
}

// meterLines are readings of a meter with declared metrics (metricsCSV) in the recording's first
// hour, for the example queries of hourly_metric_values and silver's metrics.
func meterLines(t *testing.T, root string) (catalog string) {
	t.Helper()
	hour := time.Date(2015, 2, 2, 14, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i, v := range []string{`"pm25":12.5,"power_w":480`, `"pm25":14`, `"power_w":510.5`, `"pm25":2000`} { // the last out of range
		fmt.Fprintf(zw, `{"device_id":"meter-7","event_time":%q,%s,"msg_id":"m-%d"}`+"\n", hour.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), v, i)
	}
	zw.Close()
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(lake.Partition(lake.Bronze, hour)), "meter-0.json.gz"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog = filepath.Join(t.TempDir(), "metrics.csv")
	if err := os.WriteFile(catalog, []byte("name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return catalog
}

func TestReadmeQueriesRunLocally(t *testing.T) {
	root := occupancyLake(t)
	catalog := meterLines(t, root)
	if code, _, errOut := runCLI(t, "", "aggregate", "--lake", root, "--from", "2015-02-02T14", "--to", "2015-02-04T11", "--metrics", catalog); code != 0 {
		t.Fatal(errOut)
	}
	var all strings.Builder
	for i, q := range readmeQueries(t) {
		code, out, errOut := runCLI(t, "", "query", "--lake", root, "--devices", "../../events/devices.csv", q)
		if code != 0 || strings.Contains(out, "(0 rows)") {
			t.Errorf("query %d: exit %d, %s%s", i+1, code, out, errOut)
		}
		all.WriteString(out)
	}
	// alerts on metrics other than temperature, and the devices table's locations, are shown
	for _, want := range []string{"co2_high", "humidity_low", "light_no_occupancy", "Building A floor 2", "13.25", "510.5"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no example query shows %s", want)
		}
	}
}

func TestLakeCommandErrors(t *testing.T) {
	root := t.TempDir()
	badCatalog := filepath.Join(root, "metrics.csv")
	if err := os.WriteFile(badCatalog, []byte("name,unit,min,max,floor\ntemperature,C,0,1,\npm25,,5,1,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"aggregate", "--lake", root, "--from", "2015-02-02", "--to", "2015-02-03T00"}, "--from: \"2015-02-02\" is not an hour"},
		{[]string{"aggregate", "--lake", root, "--from", "2015-02-03T00", "--to", "2015-02-02T00"}, "2015-02-02T00 is not after 2015-02-03T00"},
		// once 4.5 GB in 30 s listing every hour of 8,000 years: refused before anything is listed
		{[]string{"aggregate", "--lake", root, "--from", "0001-01-01T00", "--to", "9999-01-01T00"}, "one run takes at most 744; split the range"},
		{[]string{"aggregate", "--lake", root, "--from", "2015-01-01T00", "--to", "2015-02-01T01"}, "is 745 hours"},
		{[]string{"query", "--lake", root, "--format", "xml", "SELECT 1"}, "want table, csv or jsonl"},
		{[]string{"aggregate", "--lake", root, "--from", "2015-02-02T00", "--to", "2015-02-02T01", "--metrics", badCatalog},
			badCatalog + ":3: max: 1 is below min 5"},
		{[]string{"aggregate", "--lake", root, "--from", "2015-02-02T00", "--to", "2015-02-02T01", "--metrics", badCatalog},
			badCatalog + `:2: name: "temperature" is a built-in metric`},
		{[]string{"aggregate", "--lake", root, "--from", "2015-02-02T00", "--to", "2015-02-02T01", "--metrics", filepath.Join(root, "none.csv")},
			"--metrics: open"},
		{[]string{"query", "--lake", root, "SELECT nope FROM hourly_metrics"}, "nope"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %s; want %q", tc.args, code, errOut, tc.want)
		}
	}
	// timestamps print one way, the engine's and the lake's texts of them alike
	code, out, errOut := runCLI(t, "", "query", "--lake", root, "SELECT TIMESTAMP '2015-02-03 10:00:00' AS hour_start, '2015-02-03T10:00:00.25Z' AS alert_time")
	if code != 0 || strings.Count(out, "2015-02-03T10:00:00Z") != 2 {
		t.Errorf("timestamps: exit %d, %s %s", code, out, errOut)
	}
	// an empty lake answers with empty tables, not errors
	code, out, errOut = runCLI(t, "", "query", "--lake", root, "SELECT (SELECT count(*) FROM bronze_readings) + (SELECT count(*) FROM alerts) + (SELECT count(*) FROM hourly_metrics) AS n")
	if code != 0 || !strings.Contains(out, "0") {
		t.Errorf("empty lake: exit %d, %s %s", code, out, errOut)
	}
}

func TestRunAndSimulateCommands(t *testing.T) {
	lakeDir := t.TempDir()
	addrFile := filepath.Join(lakeDir, "addr")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--devices", "../../events/devices.csv",
			"--mqtt", "127.0.0.1:0", "--addr-file", addrFile, "--aggregate-every", "0"}, strings.NewReader(""), &out, &errOut)
	}()
	addr := wait.File(t, addrFile, 10*time.Second, errOut.String)
	code, simOut, simErr := runCLI(t, "", "simulate", "--broker", addr, "--csv", "../../events/occupancy/datatest.txt", "--devices", "2")
	if code != 0 || !strings.Contains(simOut, "5330 published, 5330 acknowledged") {
		t.Errorf("simulate: exit %d, %s %s", code, simOut, simErr)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "messages 5330, readings 5330, rejected 0") || !strings.Contains(out.String(), "ALERT 2015-02-02T14:25:00Z OPEN") ||
		!strings.Contains(out.String(), "Office 1 (room-1)") {
		t.Errorf("run printed:\n%s\n%s", out.String(), errOut.String())
	}
	code, q, _ := runCLI(t, "", "query", "--lake", lakeDir, "--format", "csv", "SELECT count(DISTINCT device_id) AS devices, sum(readings) AS readings FROM hourly_metrics")
	if code != 0 || q != "devices,readings\n2,5330\n" {
		t.Errorf("hourly metrics after run: %q", q)
	}
}

// TestBatchedSimulateThroughRun: the same recording sent through iotwatch run one reading a
// message and ten to a message gives the same alerts (ids included) and the same hourly figures.
func TestBatchedSimulateThroughRun(t *testing.T) {
	runOnce := func(batch string) (alerts, hourly, summary string) {
		lakeDir := t.TempDir()
		addrFile := filepath.Join(lakeDir, "addr")
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"run", "--lake", lakeDir, "--thresholds", "../../events/thresholds.csv", "--rules", "../../events/rules.csv",
				"--devices", "../../events/devices.csv", "--mqtt", "127.0.0.1:0", "--addr-file", addrFile, "--aggregate-every", "0", "--clock", "watermark"},
				strings.NewReader(""), &out, &errOut)
		}()
		addr := wait.File(t, addrFile, 10*time.Second, errOut.String)
		code, simOut, simErr := runCLI(t, "", "simulate", "--broker", addr, "--csv", "../../events/occupancy/datatest.txt", "--devices", "2", "--batch", batch)
		require.Zero(t, code, "simulate: %s %s", simOut, simErr)
		cancel()
		require.Zero(t, <-done, "run: %s", errOut.String())
		code, alerts, errQ := runCLI(t, "", "query", "--lake", lakeDir, "--format", "csv",
			"SELECT alert_id, kind, user_id, device_id, rule, alert_time FROM alerts ORDER BY alert_id")
		require.Zero(t, code, errQ)
		code, hourly, errQ = runCLI(t, "", "query", "--lake", lakeDir, "--format", "csv",
			"SELECT device_id, hour_start, readings, temperature_avg, temperature_p95, co2_max FROM hourly_metrics ORDER BY device_id, hour_start")
		require.Zero(t, code, errQ)
		return alerts, hourly, errOut.String()
	}
	aOne, hOne, sumOne := runOnce("1")
	aTen, hTen, sumTen := runOnce("10")
	assert.Contains(t, sumOne, "messages 5330, readings 5330, rejected 0")
	assert.Contains(t, sumTen, "readings 5330, rejected 0", "ten to a message: the same readings")
	assert.Greater(t, strings.Count(aOne, "\n"), 10, aOne)
	assert.Equal(t, aOne, aTen, "the same alerts, ids included")
	assert.Greater(t, strings.Count(hOne, "\n"), 10, hOne)
	assert.Equal(t, hOne, hTen, "the same hourly figures")
}
