package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// TestMetricsPutListDelete runs the same session of `iotwatch metrics` on both homes of the
// catalog, the table (the emulator) and a local metrics file: a file and one metric's flags are
// declared, a bad input is refused whole (line or flag, and field, named; nothing written), a rule
// may name a declared metric once it is declared, and a metric a rule names cannot be deleted.
func TestMetricsPutListDelete(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	dir := t.TempDir()
	metricsFile, rulesFile := filepath.Join(dir, "metrics.csv"), filepath.Join(dir, "rules.csv")
	homes := map[string]struct{ metrics, rules, deleteRules []string }{
		"table": {[]string{"--table", "iotwatch", "--endpoint", url}, []string{"--table", "iotwatch", "--endpoint", url}, nil},
		"file": {[]string{"--metrics", metricsFile}, []string{"--rules", rulesFile, "--metrics", metricsFile},
			[]string{"--rules", rulesFile}},
	}
	catalog := writeFile(t, "metrics.csv", "name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\n")
	for name, at := range homes {
		t.Run(name, func(t *testing.T) {
			cli := func(args []string, home ...string) (int, string, string) {
				t.Helper()
				return runCLI(t, "", append(args, home...)...)
			}
			pm25Rule := []string{"rules", "put", "--user", "ops", "--scope", "fleet", "--metric", "pm25", "--rule", "high", "--warning", "35"}
			code, _, errOut := cli([]string{"metrics", "put", "--name", "supply_temp", "--unit", "°C", "--min", "-20", "--max", "80"}, at.metrics...)
			require.Zero(t, code, errOut)
			code, _, errOut = cli(pm25Rule, at.rules...)
			assert.Equal(t, 2, code, "a rule on an undeclared metric")
			assert.Contains(t, errOut, `"pm25" is neither a built-in metric`)

			code, out, errOut := cli([]string{"metrics", "put", catalog}, at.metrics...)
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "declared 2 metrics")
			code, out, errOut = cli([]string{"metrics", "list"}, at.metrics...)
			require.Zero(t, code, errOut)
			assert.Equal(t, "name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\nsupply_temp,°C,-20,80,0.1\n", out)

			for _, bad := range []struct {
				args []string
				want []string
			}{
				{[]string{"--name", "co2", "--min", "0", "--max", "1"}, []string{"--name:", "built-in"}},
				{[]string{"--name", "voc", "--min", "5", "--max", "1"}, []string{"--max:", "below min"}},
				{[]string{"--name", "voc", "--max", "1"}, []string{"--min: is required"}},
				{[]string{"--name", "voc", "--min", "0", "--max", "+Inf"}, []string{"--max:", "not a finite number"}},
				{[]string{writeFile(t, "bad.csv", "name,unit,min,max\nvoc,ppb,0,1000\nevent_time,,0,1\nVOC,,0,1\n")}, []string{"bad.csv:3: name:", "own field", "bad.csv:4: name:"}},
			} {
				code, _, errOut := cli(append([]string{"metrics", "put"}, bad.args...), at.metrics...)
				assert.Equal(t, 2, code, "%v", bad.args)
				for _, w := range bad.want {
					assert.Contains(t, errOut, w, "%v", bad.args)
				}
				assert.Contains(t, errOut, "nothing written")
			}
			code, again, _ := cli([]string{"metrics", "list"}, at.metrics...)
			require.Zero(t, code)
			assert.Equal(t, out, again, "nothing written by the refused puts")

			code, _, errOut = cli(pm25Rule, at.rules...)
			require.Zero(t, code, "a rule on a declared metric: %s", errOut)

			code, _, errOut = cli(append([]string{"metrics", "delete", "pm25"}, at.metrics...), at.deleteRules...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "names pm25")
			assert.Contains(t, errOut, "nothing deleted")
			code, _, errOut = cli([]string{"metrics", "delete", "voc"}, at.metrics...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, `"voc" is not declared`)

			code, _, errOut = cli([]string{"rules", "delete", "--user", "ops", "--scope", "fleet", "--metric", "pm25", "--rule", "high"}, at.rules...)
			require.Zero(t, code, errOut)
			code, out, errOut = cli(append([]string{"metrics", "delete", "pm25", "power_w"}, at.metrics...), at.deleteRules...)
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "deleted pm25, power_w")
			code, out, _ = cli([]string{"metrics", "list"}, at.metrics...)
			require.Zero(t, code)
			assert.Equal(t, "name,unit,min,max,floor\nsupply_temp,°C,-20,80,0.1\n", out)
			assert.False(t, strings.Contains(out, "pm25"))
		})
	}
}
