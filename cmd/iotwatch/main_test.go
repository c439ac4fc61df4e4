package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	goldenfile "github.com/iotwatch/iotwatch/shared/testsupport/golden"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/tools/occupancy"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) { t.Helper(); goldenfile.Check(t, name, got) }

func TestBacktestGolden(t *testing.T) {
	code, out, errOut := runCLI(t, "", "backtest", "--thresholds", "../../events/thresholds.csv",
		"--csv", "../../events/occupancy/datatest.txt", "--device", "room-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "backtest-datatest.jsonl", out)
	if !strings.Contains(errOut, "2665 readings of 1 device(s), 0 rejected") {
		t.Errorf("summary = %q", errOut)
	}
}

// TestBacktestEveryRuleGolden: the second edition's rules over the same recording, with the
// silence clock running on past its end (--until): sensor_stuck on its flat stretches,
// temperature_anomaly at its jumps, hysteresis and reminders, and a silence after the last
// reading (10:43, silent from 10:53) with its reminders every 30 minutes until --until (14:00).
func TestBacktestEveryRuleGolden(t *testing.T) {
	code, out, errOut := runCLI(t, "", "backtest", "--thresholds", "testdata/all-rules.csv",
		"--csv", "../../events/occupancy/datatest.txt", "--device", "room-1", "--until", "2015-02-04T14:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "backtest-every-rule.jsonl", out)
	for _, want := range []string{`"rule":"device_silent","severity":"WARNING","metric":null`, `"kind":"REMIND","alert_time":"2015-02-04T13:53:00Z"`,
		`"rule":"temperature_anomaly"`, `"rule":"sensor_stuck"`, `"rule":"temperature_high"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the backtest has no %s", want)
		}
	}
	code, _, errOut = runCLI(t, "", "backtest", "--thresholds", "testdata/all-rules.csv",
		"--csv", "../../events/occupancy/datatest.txt", "--device", "room-1", "--until", "yesterday")
	if code != 2 || !strings.Contains(errOut, "--until") {
		t.Errorf("--until yesterday: exit %d, %q; want 2 and an error naming --until", code, errOut)
	}
}

// TestBacktestJSONLinesEqualsCSV: the same readings as JSON lines on standard input give the same alerts.
func TestBacktestJSONLinesEqualsCSV(t *testing.T) {
	f, err := os.Open("../../events/occupancy/datatest.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := occupancy.NewReader(f, "datatest.txt", "room-1")
	var lines strings.Builder
	for {
		row, err := r.Next()
		if err != nil {
			break
		}
		lines.Write(row.Message)
		lines.WriteByte('\n')
	}
	_, fromCSV, _ := runCLI(t, "", "backtest", "--thresholds", "../../events/thresholds.csv", "--csv", "../../events/occupancy/datatest.txt", "--device", "room-1")
	code, fromLines, errOut := runCLI(t, lines.String(), "backtest", "--thresholds", "../../events/thresholds.csv", "--readings", "-")
	if code != 0 || fromLines != fromCSV || fromCSV == "" {
		t.Errorf("exit %d (%s); JSON lines gave %d bytes, CSV %d bytes", code, errOut, len(fromLines), len(fromCSV))
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const header = "user_id,device_id,temp_warning,temp_violation,temp_low_warning,temp_low_violation,light_no_occupancy,sustain_seconds\n"

func TestBacktestBadInput(t *testing.T) {
	good := writeFile(t, "good.csv", header+"alice,room-1,24,26,,,,0\n")
	readings := writeFile(t, "r.jsonl", `{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":25}
{"device_id":"room-1","event_time":"2015-02-02T14:20:00Z","temperature":"hot"}

not json
{"device_id":"room-1","event_time":"2015-02-02T14:21:00Z","temperature":20}
`)
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		stdoutNL int // alert lines expected
	}{
		{"rejected readings are named and fail the run", []string{"--thresholds", good, "--readings", readings}, 1,
			[]string{"r.jsonl:2: bad_metric: temperature is not a number", "r.jsonl:4: malformed_json", "2 rejected (bad_metric 1, malformed_json 1)"}, 2},
		{"--max-rejects tolerates them", []string{"--thresholds", good, "--readings", readings, "--max-rejects", "2"}, 0, []string{"2 rejected"}, 2},
		{"violation below warning", []string{"--thresholds", writeFile(t, "t.csv", header+"alice,room-1,24,26,,,,0\nbob,room-1,26,24,,,,0\n"), "--readings", readings}, 2,
			[]string{"t.csv:3: temp_violation: 24 is below temp_warning 26"}, 0},
		{"every bad line is named", []string{"--thresholds", writeFile(t, "t.csv", header+"alice,room 1,NaN,,,,,x\n,room-2,,,20,30,,\n"), "--readings", readings}, 2,
			[]string{"t.csv:2: temp_warning: \"NaN\" is not a finite number", "t.csv:2: sustain_seconds", "t.csv:2: device_id: \"room 1\" does not match", "t.csv:3: user_id: is empty", "t.csv:3: temp_low_violation: 30 is above temp_low_warning 20"}, 0},
		{"wrong header", []string{"--thresholds", writeFile(t, "t.csv", "user,device\n"), "--readings", readings}, 2, []string{"t.csv:1: user: unknown column", "t.csv:1: user_id: required column missing"}, 0},
		{"wrong field count", []string{"--thresholds", writeFile(t, "t.csv", header+"alice,room-1,24\n"), "--readings", readings}, 2, []string{"t.csv:2: has 3 fields, want 8"}, 0},
		{"duplicate user and device", []string{"--thresholds", writeFile(t, "t.csv", header+"alice,room-1,24,,,,,\nalice,room-1,25,,,,,\n"), "--readings", readings}, 2, []string{"t.csv:3: user_id: user \"alice\" already has thresholds"}, 0},
		{"missing readings file", []string{"--thresholds", good, "--readings", "/nonexistent.jsonl"}, 2, []string{"no such file"}, 0},
		{"both sources", []string{"--thresholds", good, "--readings", readings, "--csv", "x.txt"}, 2, []string{"either --readings or --csv"}, 0},
		{"csv without device", []string{"--thresholds", good, "--csv", "x.txt"}, 2, []string{"--csv needs --device"}, 0},
		// A line over 1 MiB once stopped everything with "token too long": it is that line's
		// too_large, and the lines after it count.
		{"a line of 2 MiB is too_large, the rest goes on", []string{"--thresholds", good, "--readings", writeFile(t, "big.jsonl",
			`{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":25,"pad":"`+strings.Repeat("x", 2<<20)+"\"}\r\n"+
				`{"device_id":"room-1","event_time":"2015-02-02T14:21:00Z","temperature":20}`+"\n"), "--max-rejects", "1"}, 0,
			[]string{"big.jsonl:1: too_large: message is 2097236 bytes", "2 messages, 1 readings", "1 rejected (too_large 1)"}, 0},
		// A byte order mark (as Windows editors and spreadsheets write) before the first line.
		{"a BOM before JSON lines", []string{"--thresholds", good, "--readings", writeFile(t, "bom.jsonl", "\ufeff"+`{"device_id":"room-1","event_time":"2015-02-02T14:19:00Z","temperature":25}`+"\n")}, 0,
			[]string{"1 messages, 1 readings", "0 rejected"}, 1},
		{"a BOM before the UCI CSV header", []string{"--thresholds", good, "--csv", writeFile(t, "bom.txt", "\ufeff"+`"date","Temperature","Humidity","Light","CO2","HumidityRatio","Occupancy"`+"\n"+`"1","2015-02-02 14:19:00",25,30,0,400,0.004,1`+"\n"), "--device", "room-1"}, 0,
			[]string{"1 messages, 1 readings", "0 rejected"}, 1},
		{"bad csv row", []string{"--thresholds", good, "--csv", writeFile(t, "o.txt", `"date","Temperature","Humidity","Light","CO2","HumidityRatio","Occupancy"`+"\n"+`"1","2015-02-02 14:19:00",x,1,1,1,0.1,1`+"\n"), "--device", "room-1"}, 2,
			[]string{"o.txt:2: Temperature \"x\" is not a number"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append([]string{"backtest"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d; want %d (stderr %s)", code, tc.code, errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if n := strings.Count(out, "\n"); n != tc.stdoutNL {
				t.Errorf("%d alert lines; want %d:\n%s", n, tc.stdoutNL, out)
			}
		})
	}
}

func TestThresholdsAndDevicesOnEmulator(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	at := []string{"--table", "iotwatch", "--endpoint", url}

	// A file with one bad line writes nothing.
	bad := writeFile(t, "bad.csv", header+"alice,room-1,24,26,,,,0\nbob,room-1,24,22,,,,0\n")
	if code, _, errOut := runCLI(t, "", append([]string{"thresholds", "put", bad}, at...)...); code != 2 || !strings.Contains(errOut, "bad.csv:3: temp_violation") {
		t.Errorf("put bad file: exit %d, %s", code, errOut)
	}
	if _, out, _ := runCLI(t, "", append([]string{"thresholds", "list", "--device", "room-1"}, at...)...); strings.Count(out, "\n") != 1 {
		t.Errorf("after a refused file the table holds:\n%s", out)
	}

	if code, out, errOut := runCLI(t, "", append([]string{"thresholds", "put", "../../events/thresholds.csv"}, at...)...); code != 0 || !strings.Contains(out, "wrote 8 thresholds") {
		t.Fatalf("put: exit %d, %s %s", code, out, errOut)
	}
	_, out, _ := runCLI(t, "", append([]string{"thresholds", "list", "--device", "room-1"}, at...)...)
	all := strings.Join(threshold.AllColumns(), ",") + ",version\n"
	want := all + "alice,room-1,23,23.8,,,,300,0.2,,,,,3600,1\nbob,room-1,,,20,19.5,,300,0.2,,,,,,1\ncarol,room-1,,,,,300,120,,50,,,,,1\nops,room-1,,,,,,0,,,600,1500,6,,1\n"
	if out != want {
		t.Errorf("list:\n%s\nwant:\n%s", out, want)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"thresholds", "delete", "--user", "bob", "--device", "room-1"}, at...)...); code != 0 {
		t.Errorf("delete: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"thresholds", "delete", "--user", "bob", "--device", "room-1"}, at...)...); code != 2 || !strings.Contains(errOut, "has no thresholds") {
		t.Errorf("second delete: exit %d, %s", code, errOut)
	}
	_, out, _ = runCLI(t, "", append([]string{"thresholds", "list", "--device", "room-1"}, at...)...)
	if strings.Count(out, "\n") != 4 || strings.Contains(out, "bob") { // the header and 3 users
		t.Errorf("after delete:\n%s", out)
	}
	if code, out, errOut := runCLI(t, "", append([]string{"devices", "put", "../../events/devices.csv"}, at...)...); code != 0 || !strings.Contains(out, "wrote 2 devices") {
		t.Errorf("devices put: exit %d, %s %s", code, out, errOut)
	}
	// with --bucket, the lake's snapshot too (the Glue table devices, for location_hourly)
	s3URL, s3c := awstest.S3(t, "lake")
	if code, out, errOut := runCLI(t, "", append([]string{"devices", "put", "../../events/devices.csv", "--bucket", "lake", "--s3-endpoint", s3URL}, at...)...); code != 0 || !strings.Contains(out, "s3://lake/devices/devices.json.gz") {
		t.Errorf("devices put --bucket: exit %d, %s %s", code, out, errOut)
	}
	obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String(lake.DevicesObject)})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, _ := io.ReadAll(zr)
	if n := strings.Count(string(snapshot), `"device_id":`); n != 2 || !strings.Contains(string(snapshot), `"location":`) {
		t.Errorf("snapshot:\n%s", snapshot)
	}
	if code, _, errOut := runCLI(t, "", "thresholds", "list", "--device", "room-1"); code != 2 || !strings.Contains(errOut, "--table is required") {
		t.Errorf("no table: exit %d, %s", code, errOut)
	}
	// a command that can also talk to a local run says so
	if code, _, errOut := runCLI(t, "", "alerts", "ack", "--user", "bob", "--device", "room-1", "--rule", "temperature_high"); code != 2 || !strings.Contains(errOut, "--server http://ADDR") {
		t.Errorf("alerts ack with no table or server: exit %d, %s", code, errOut)
	}
}

func TestSubscribeOnEmulator(t *testing.T) {
	snsc, _ := awstest.SNS(t)
	topic, err := snsc.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("cli-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	url := *snsc.Options().BaseEndpoint
	code, out, errOut := runCLI(t, "", "subscribe", "--topic", *topic.TopicArn, "--user", "alice", "--email", "alice@example.com", "--severity", "VIOLATION", "--endpoint", url)
	if code != 0 || !strings.Contains(out, `filter {"kind":["OPEN","ESCALATE","REMIND","RESOLVE","DIGEST"],"severity":["VIOLATION"],"suppressed":["no"],"user_id":["alice"]}`) {
		t.Errorf("subscribe: exit %d, %s %s", code, out, errOut)
	}
	subs, err := snsc.ListSubscriptionsByTopic(context.Background(), &sns.ListSubscriptionsByTopicInput{TopicArn: topic.TopicArn})
	if err != nil || len(subs.Subscriptions) != 1 || *subs.Subscriptions[0].Endpoint != "alice@example.com" {
		t.Errorf("subscriptions = %+v, %v", subs, err)
	}
	for _, args := range [][]string{
		{"subscribe", "--topic", *topic.TopicArn, "--user", "alice", "--endpoint", url},
		{"subscribe", "--topic", *topic.TopicArn, "--user", "alice", "--sms", "12345", "--endpoint", url},
	} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d; want 2", args, code)
		}
	}
}

// TestBacktestWithUsersIsTheSame: with a users file, the backtest's alerts are the same (ids and
// all), only marked as held where quiet hours hold them.
func TestBacktestWithUsersIsTheSame(t *testing.T) {
	args := []string{"backtest", "--thresholds", "../../events/thresholds.csv", "--csv", "../../events/occupancy/datatest.txt", "--device", "room-1"}
	code, plain, errOut := runCLI(t, "", args...)
	require.Zero(t, code, errOut)
	users := writeFile(t, "users.csv", "user_id,timezone,quiet_hours,quiet_min_severity\nalice,UTC,12:00-18:00,VIOLATION\ncarol,UTC,00:00-23:59,WARNING\n")
	code, marked, errOut := runCLI(t, "", append(args, "--users", users)...)
	require.Zero(t, code, errOut)
	p, m := strings.Split(strings.TrimSpace(plain), "\n"), strings.Split(strings.TrimSpace(marked), "\n")
	require.Len(t, m, len(p))
	held := 0
	for i := range p {
		var a, b alert.Alert
		require.NoError(t, json.Unmarshal([]byte(p[i]), &a))
		require.NoError(t, json.Unmarshal([]byte(m[i]), &b))
		if b.Suppressed != "" {
			held++
			assert.Equal(t, "alice", b.UserID, "carol's quiet_min_severity WARNING holds nothing")
		}
		b.Suppressed = ""
		assert.Equal(t, a, b, "line %d: the same alert", i+1)
	}
	assert.Positive(t, held, "some of alice's afternoon alerts are held")
	code, _, errOut = runCLI(t, "", append(args, "--users", writeFile(t, "bad.csv", "user_id,timezone\nalice,Mars/Base\n"))...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "bad.csv:2: timezone")
}

// TestBacktestRulesFileEqualsTheWideFile: the every-rule thresholds file written in the long
// form (its device rows) gives the same alerts, ids included, as the wide file: the golden file.
// The same rows for the device's location, and for the fleet, give them too (but for
// config_version, and so the ids, when a row's version differs: here all are 1).
func TestBacktestRulesFileEqualsTheWideFile(t *testing.T) {
	f, err := os.Open("testdata/all-rules.csv")
	require.NoError(t, err)
	cfgs, err := threshold.ParseCSV(f, "all-rules.csv")
	f.Close()
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/backtest-every-rule.jsonl")
	require.NoError(t, err)
	dir := t.TempDir()
	devices := filepath.Join(dir, "devices.csv")
	require.NoError(t, os.WriteFile(devices, []byte("device_id,name,location\nroom-1,Office 1,Building A\n"), 0o644))
	for _, scope := range []rule.Scope{{Kind: rule.Device, Name: "room-1"}, {Kind: rule.Location, Name: "Building A"}, {Kind: rule.Fleet}} {
		t.Run(scope.String(), func(t *testing.T) {
			rows := rule.FromConfigs(cfgs)
			for i := range rows {
				rows[i].Scope = scope
			}
			var b strings.Builder
			require.NoError(t, rule.WriteCSV(&b, rows))
			path := filepath.Join(dir, "rules.csv")
			require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			code, out, errOut := runCLI(t, "", "backtest", "--rules", path, "--devices", devices,
				"--csv", "../../events/occupancy/datatest.txt", "--device", "room-1", "--until", "2015-02-04T14:00:00Z")
			require.Equal(t, 0, code, errOut)
			assert.Equal(t, string(want), out)
		})
	}
}

// TestReadmeBuildingRule: the README's rule for a whole floor of a building, as its quick start
// gives it, raises the co2_high alerts it says.
func TestReadmeBuildingRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.csv")
	require.NoError(t, os.WriteFile(path, []byte("user_id,scope,metric,rule,warning,violation,sustain_seconds\nops,location:Building A floor 2,co2,high,1000,1500,600\n"), 0o644))
	code, out, errOut := runCLI(t, "", "backtest", "--rules", path, "--devices", "../../events/devices.csv",
		"--csv", "../../events/occupancy/datatraining.txt", "--device", "room-1")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "8143 readings of 1 device(s)")
	assert.Contains(t, errOut, ", 9 alerts")
	assert.Equal(t, 9, strings.Count(out, `"rule":"co2_high"`), "every alert is the building's CO2 rule")
}

// TestRulesExplain: for one device, each rule in force with the row it came from and the rows
// it beat; a user's only; a bad file refused with its line.
func TestRulesExplain(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.csv")
	require.NoError(t, os.WriteFile(rules, []byte(`user_id,scope,metric,rule,warning,violation,sustain_seconds
ops,fleet,co2,high,1000,1500,600
ops,location:Building A floor 2,co2,high,900,1400,600
ops,fleet,,silent,900,,
alice,device:room-1,temperature,high,23,,
`), 0o644))
	code, out, errOut := runCLI(t, "", "rules", "explain", "--device", "room-1", "--rules", rules, "--devices", "../../events/devices.csv",
		"--thresholds", "../../events/thresholds.csv")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "device room-1 (location Building A floor 2)")
	lines := strings.Split(out, "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(strings.Join(strings.Fields(l), " "), prefix) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		return ""
	}
	assert.Equal(t, "ops co2_high 900 1400 600 s location:Building A floor 2 1 fleet", find("ops co2_high"), out)
	assert.Equal(t, "ops device_silent 600 - - device:room-1 1 fleet", find("ops device_silent"), out, "the thresholds file's row for the device beats the fleet's")
	assert.Equal(t, "alice temperature_high 23 23.8 300 s device:room-1 1 device:room-1", find("alice temperature_high"), out,
		"of two rows of one scope, the thresholds file's (read first) wins, and explain shows the other")

	code, out, _ = runCLI(t, "", "rules", "explain", "--device", "room-9", "--rules", rules, "--user", "alice")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "device room-9 (no location)")
	assert.Contains(t, out, "no rule in force")

	require.NoError(t, os.WriteFile(rules, []byte("user_id,scope,metric,rule,warning\nops,fleet,pm25,high,35\n"), 0o644))
	code, _, errOut = runCLI(t, "", "rules", "explain", "--device", "room-1", "--rules", rules)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "rules.csv:2: metric:")
}
