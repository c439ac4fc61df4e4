package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// explainLine finds the row of explain's table that starts with prefix, spaces collapsed.
func explainLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Join(strings.Fields(l), " "); strings.HasPrefix(f, prefix) {
			return f
		}
	}
	return ""
}

// TestRulesPutListDelete runs the same session of `iotwatch rules` on both homes of the rows: the
// table (the emulator) and a local rules file. A file and single-rule flags are put, versions
// move only on change, a bad input is refused whole (line or flag, and field, named; nothing
// written), explain shows the winning rows, and delete of an absent row deletes nothing.
func TestRulesPutListDelete(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	homes := map[string][]string{
		"table": {"--table", "iotwatch", "--endpoint", url},
		"file":  {"--rules", filepath.Join(t.TempDir(), "rules.csv")},
	}
	building := writeFile(t, "building.csv", "user_id,scope,metric,rule,warning,violation,sustain_seconds,hysteresis\n"+
		"ops,location:Building A floor 2,co2,high,1000,1500,600,50\n"+
		"ops,fleet,humidity,low,25,20,600,2\n")
	for name, at := range homes {
		t.Run(name, func(t *testing.T) {
			cli := func(args ...string) (int, string, string) {
				t.Helper()
				return runCLI(t, "", append(args, at...)...)
			}
			code, out, errOut := cli("rules", "put", building)
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "wrote 2 rules")
			code, _, errOut = cli("rules", "put", "--user", "alice", "--scope", "device:room-1", "--metric", "co2", "--rule", "high", "--warning", "800")
			require.Zero(t, code, errOut)
			code, _, errOut = cli("rules", "put", building) // unchanged: versions stay
			require.Zero(t, code, errOut)
			code, _, errOut = cli("rules", "put", "--user", "ops", "--scope", "fleet", "--metric", "humidity", "--rule", "low", "--warning", "30", "--violation", "20")
			require.Zero(t, code, errOut)

			code, out, errOut = cli("rules", "list")
			require.Zero(t, code, errOut)
			if name == "table" {
				assert.Equal(t, "user_id,scope,metric,rule,warning,violation,sustain_seconds,hysteresis,remind_seconds,floor,version\n"+
					"ops,fleet,humidity,low,30,20,,,,,2\n"+
					"ops,location:Building A floor 2,co2,high,1000,1500,600,50,,,1\n"+
					"alice,device:room-1,co2,high,800,,,,,,1\n", out, "the fleet's first; versions: the changed row's 2")
			} else {
				assert.Equal(t, "user_id,scope,metric,rule,warning,violation,sustain_seconds,hysteresis,remind_seconds,floor\n"+
					"ops,location:Building A floor 2,co2,high,1000,1500,600,50,,\n"+
					"ops,fleet,humidity,low,30,20,,,,\n"+
					"alice,device:room-1,co2,high,800,,,,,\n", out, "the file's order, the replaced row in place")
			}
			code, out, _ = cli("rules", "list", "--user", "alice")
			require.Zero(t, code)
			assert.Equal(t, 2, strings.Count(out, "\n"), out)

			for _, bad := range []struct {
				args []string
				want []string
			}{
				{[]string{"--user", "ops", "--scope", "fleet", "--metric", "pm25", "--rule", "high", "--warning", "35"}, []string{"metric:", `"pm25" is neither a built-in metric nor one the`}},
				{[]string{"--user", "ops", "--scope", "room-1", "--metric", "co2", "--rule", "high", "--warning", "35"}, []string{"--scope:"}},
				{[]string{"--user", "ops", "--scope", "fleet", "--metric", "co2", "--rule", "high", "--warning", "1500", "--violation", "1000"}, []string{"--violation:", "below warning"}},
				{[]string{"--user", "ops", "--scope", "fleet", "--metric", "co2", "--rule", "high", "--warning", "1000", "--sustain-seconds", "-5"}, []string{"--sustain-seconds:", "negative"}},
				{[]string{writeFile(t, "dup.csv", "user_id,scope,metric,rule,warning\nops,fleet,co2,high,1\nops,fleet,co2,high,2\n")}, []string{"dup.csv:3: user_id:", "already has"}},
				{[]string{writeFile(t, "order.csv", "user_id,scope,metric,rule,warning,violation\nops,fleet,co2,high,1\nops,fleet,light,low,100,200\n")}, []string{"order.csv:3: violation:"}},
			} {
				code, _, errOut := cli(append([]string{"rules", "put"}, bad.args...)...)
				assert.Equal(t, 2, code, "%v", bad.args)
				for _, w := range bad.want {
					assert.Contains(t, errOut, w, "%v", bad.args)
				}
				assert.Contains(t, errOut, "nothing written")
			}
			code, again, _ := cli("rules", "list")
			require.Zero(t, code)
			assert.Equal(t, 3, strings.Count(again, "\n")-1, "nothing written by the refused puts:\n%s", again)

			code, _, errOut = cli("rules", "delete", "--user", "alice", "--scope", "device:room-1", "--metric", "co2", "--rule", "low")
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "no such rule")
			assert.Contains(t, errOut, "nothing deleted")
			code, out, errOut = cli("rules", "delete", "--user", "alice", "--scope", "device:room-1", "--metric", "co2", "--rule", "high")
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "deleted 1 rules")
			twice := writeFile(t, "twice.csv", "user_id,scope,metric,rule\nops,fleet,humidity,low\nops,fleet,humidity,low\n")
			code, _, errOut = cli("rules", "delete", twice)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "twice.csv:3: rule: user ops, scope fleet, metric humidity, rule low is named on line 2 already")
			assert.Contains(t, errOut, "nothing deleted")
			code, _, errOut = cli("rules", "delete", building)
			require.Zero(t, code, errOut)
			code, out, _ = cli("rules", "list")
			require.Zero(t, code)
			assert.Equal(t, "user_id,scope,metric,rule,warning,violation,sustain_seconds,hysteresis,remind_seconds,floor\n", out, "every row deleted")
		})
	}
}

// TestRulesExplainOnTheTable: explain reads the table as the evaluate function does: the
// device's location from its metadata, the location's and the fleet's rows, and the wide
// THRESHOLD items, the most specific row winning.
func TestRulesExplainOnTheTable(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	at := []string{"--table", "iotwatch", "--endpoint", url}
	for _, args := range [][]string{
		{"thresholds", "put", "../../events/thresholds.csv"},
		{"devices", "put", "../../events/devices.csv"},
		{"rules", "put", writeFile(t, "rules.csv", "user_id,scope,metric,rule,warning,violation,sustain_seconds\n"+
			"ops,fleet,co2,high,1000,1500,600\nops,location:Building A floor 2,co2,high,900,1400,600\nops,fleet,,silent,900,,\n")},
	} {
		code, _, errOut := runCLI(t, "", append(args, at...)...)
		require.Zero(t, code, errOut)
	}
	code, out, errOut := runCLI(t, "", append([]string{"rules", "explain", "--device", "room-1"}, at...)...)
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "device room-1 (location Building A floor 2)")
	assert.Equal(t, "ops co2_high 900 1400 600 s location:Building A floor 2 1 fleet", explainLine(out, "ops co2_high"), out)
	assert.Equal(t, "ops device_silent 600 - - device:room-1 1 fleet", explainLine(out, "ops device_silent"), out,
		"the THRESHOLD item's silent row (the device's) beats the fleet's")
	assert.NotEmpty(t, explainLine(out, "alice temperature_high"), out)
}

// TestRulesExplainAgainstARun: explain --server asks a running iotwatch run for the rules it has
// in force, and follows an edit of its rules file (put through the CLI) once the run reloads it.
func TestRulesExplainAgainstARun(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.csv")
	require.NoError(t, os.WriteFile(rules, []byte("user_id,scope,metric,rule,warning\nops,fleet,co2,high,1000\n"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	linksAddr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		_, err := runner.Run(ctx, runner.Config{Lake: filepath.Join(dir, "lake"), Rules: rules, Devices: "../../events/devices.csv",
			MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", LinksReady: func(a string) { linksAddr <- a }})
		done <- err
	}()
	server := "http://" + <-linksAddr
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	code, out, errOut := runCLI(t, "", "rules", "explain", "--device", "room-1", "--server", server)
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "device room-1 (location Building A floor 2)")
	assert.Equal(t, "ops co2_high 1000 - - fleet 1", explainLine(out, "ops co2_high"), out)

	code, _, errOut = runCLI(t, "", "rules", "put", "--rules", rules, "--user", "ops", "--scope", "location:Building A floor 2",
		"--metric", "co2", "--rule", "high", "--warning", "900")
	require.Zero(t, code, errOut)
	require.Eventually(t, func() bool {
		_, out, _ = runCLI(t, "", "rules", "explain", "--device", "room-1", "--server", server)
		return explainLine(out, "ops co2_high") == "ops co2_high 900 - - location:Building A floor 2 1 fleet"
	}, 10*time.Second, 50*time.Millisecond, "the run reloads the edited file")
}
