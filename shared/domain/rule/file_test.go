package rule

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// The contract's example (DESIGN.md, "Rules file").
const example = `user_id,scope,metric,rule,warning,violation,sustain_seconds,hysteresis,remind_seconds,floor
alice,device:room-1,temperature,high,23.0,23.8,300,0.2,3600,
ops,location:Building A floor 2,co2,high,1000,1500,600,50,,
ops,fleet,humidity,low,25,20,600,2,,
ops,fleet,,silent,900,,,,3600,
`

func TestParseTheExample(t *testing.T) {
	rows, err := ParseCSV(strings.NewReader(example), "rules.csv", BuiltIn{})
	require.NoError(t, err)
	require.Len(t, rows, 4)
	assert.Equal(t, Row{UserID: "ops", Scope: Scope{Kind: Location, Name: "Building A floor 2"}, Metric: "co2", Kind: High,
		Warning: threshold.Of(1000), Violation: threshold.Of(1500), SustainSeconds: 600, Hysteresis: threshold.Of(50)}, rows[1])
	assert.Equal(t, Row{UserID: "ops", Scope: Scope{Kind: Fleet}, Kind: Silent, Warning: threshold.Of(900), RemindSeconds: 3600}, rows[3])

	// Columns by name, in any order; the optional ones may be left out.
	rows, err = ParseCSV(strings.NewReader("rule,scope,user_id,metric,warning\nhigh,fleet,ops,co2,1000\n"), "short.csv", BuiltIn{})
	require.NoError(t, err)
	assert.Equal(t, []Row{{UserID: "ops", Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: High, Warning: threshold.Of(1000)}}, rows)
}

// TestABadFileIsRefusedWhole: each problem named by line and field, every one of them, and no row.
func TestABadFileIsRefusedWhole(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"unknown metric", "ops,fleet,pm25,high,35,,,,,\n", []string{`rules.csv:2: metric: "pm25" is neither a built-in metric nor a declared one`}},
		{"unknown scope form", "ops,building:A,co2,high,1000,,,,,\n", []string{`rules.csv:2: scope: "building:A" is not device:<id>, location:<name> or fleet`}},
		{"unknown rule", "ops,fleet,co2,hot,1000,,,,,\n", []string{`rules.csv:2: rule: "hot" is not a rule`}},
		{"wrong order", "ops,fleet,co2,high,1500,1000,,,,\n", []string{"rules.csv:2: violation: 1000 is below warning 1500"}},
		{"negative duration", "ops,fleet,co2,high,1000,,-60,,,\n", []string{"rules.csv:2: sustain_seconds: -60 is negative"}},
		{"not a number", "ops,fleet,co2,high,lots,,,,,\n", []string{`rules.csv:2: warning: "lots" is not a finite number`}},
		{"not whole seconds", "ops,fleet,co2,high,1000,,1.5,,,\n", []string{`rules.csv:2: sustain_seconds: "1.5" is not a whole number`}},
		{"duplicate", "ops,fleet,co2,high,1000,,,,,\nops,fleet,co2,high,1200,,,,,\n",
			[]string{`rules.csv:3: user_id: ops already has a high rule on "co2" for fleet on rules.csv:2`}},
		{"two bad lines", "ops,fleet,pm25,high,35,,,,,\nops,fleet,co2,low,20,25,,,,\n",
			[]string{"rules.csv:2: metric:", "rules.csv:3: violation: 25 is above warning 20"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := ParseCSV(strings.NewReader(strings.SplitN(example, "\n", 2)[0]+"\n"+c.body), "rules.csv", BuiltIn{})
			require.Error(t, err)
			assert.Nil(t, rows, "nothing of a bad file is used")
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Len(t, strings.Split(err.Error(), "\n"), len(c.want), "one error a problem: %v", err)
		})
	}
	_, err := ParseCSV(strings.NewReader("user_id,metric,rule\nops,co2,high\n"), "rules.csv", BuiltIn{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules.csv:1: scope: required column missing from the header")
}

// TestWriteReadsBack: a file written reads back as the rows written (the wide file's rows too).
func TestWriteReadsBack(t *testing.T) {
	rows, err := ParseCSV(strings.NewReader(example), "rules.csv", BuiltIn{})
	require.NoError(t, err)
	rows = append(rows, FromConfig(threshold.Config{UserID: "bob", DeviceID: "room-2", TempWarning: threshold.Of(24.5), TempLowViolation: threshold.Of(16),
		LightNoOccupancy: threshold.Of(300), LightHysteresis: threshold.Of(25), SustainSeconds: 120, StuckSeconds: 1800, SilentSeconds: 900, TempZScore: threshold.Of(3.5), RemindSeconds: 600})...)
	var b strings.Builder
	require.NoError(t, WriteCSV(&b, rows))
	again, err := ParseCSV(strings.NewReader(b.String()), "written.csv", BuiltIn{})
	require.NoError(t, err, b.String())
	assert.Equal(t, rows, again)
}
