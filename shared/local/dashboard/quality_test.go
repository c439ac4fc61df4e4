package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// TestPipelinePageShowsDataQuality: the pipeline page lists dq_hourly by hour, with what was
// rejected and why, and marks an hour whose pass rate fell under 99 %.
func TestPipelinePageShowsDataQuality(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 1, RealGold: true})
	last := l.End.Add(-time.Hour)
	at := last.Add(5 * time.Minute).Format(time.RFC3339)
	// two bad lines and a copy of a good one, in another object of the last hour
	lakegen.WriteGz(t, filepath.Join(l.Root, filepath.FromSlash(lake.Partition(lake.Bronze, last)), "part-1.json.gz"),
		`{"device_id":"room-000","event_time":"`+at+`","temperature":"hot"}`+"\n"+
			`{"device_id":"room-001","event_time":"`+at+`","temperature":999}`+"\n"+
			`not json`+"\n")
	e, err := duckdbengine.Open(context.Background(), l.Root)
	require.NoError(t, err)
	_, err = e.AggregateHour(context.Background(), aggregate.Hour{Start: last, ExpectedReadings: 60})
	require.NoError(t, err)
	require.NoError(t, e.Close())

	_, body := get(t, newServer(t, l, nil), "/pipeline")
	table := body[strings.Index(body, `id="quality"`):]
	table = table[:strings.Index(table, "</table>")]
	assert.Equal(t, 25, strings.Count(table, "<tr"), "24 hours and the header")
	// the last hour: 3 devices × 60 readings (one silent since two hours before the end), 3 rejected
	assert.Contains(t, table, `<tr class="bad"><td>`+last.Format("2006-01-02 15:04")+`</td><td class="n">123</td><td class="n">120</td><td class="n">0</td><td class="n">3</td><td class="n">0</td><td class="n">97.56 %</td><td>bad_metric 1, malformed_json 1, out_of_range 1</td></tr>`)
	assert.Equal(t, 1, strings.Count(table, `class="bad"`), "only the last hour is under 99 %")
}

// TestPipelinePageSaysAReplayIsLate: readings received a year after their hour (a replay of
// recordings: arrival is the wall clock, the hour the device's) are all late, and the page says
// why under the table.
func TestPipelinePageSaysAReplayIsLate(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 1, RawDays: 1})
	last := l.End.Add(-time.Hour)
	dir := filepath.Join(l.Root, filepath.FromSlash(lake.Partition(lake.Bronze, last)))
	require.NoError(t, os.Remove(filepath.Join(dir, "part-0.json.gz")))
	var lines strings.Builder
	for m := range 3 {
		fmt.Fprintf(&lines, `{"device_id":"room-000","event_time":"%s","temperature":21}`+"\n", last.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
	}
	arrived := l.End.Add(365 * 24 * time.Hour) // the object's name carries when it was received
	lakegen.WriteGz(t, filepath.Join(dir, fmt.Sprintf("iotwatch-bronze-%d-0.json.gz", arrived.UnixNano())), lines.String())
	e, err := duckdbengine.Open(context.Background(), l.Root)
	require.NoError(t, err)
	_, err = e.AggregateHour(context.Background(), aggregate.Hour{Start: last, ExpectedReadings: 60})
	require.NoError(t, err)
	require.NoError(t, e.Close())

	_, body := get(t, newServer(t, l, nil), "/pipeline")
	assert.Contains(t, body, `<td class="n">3</td><td class="n">3</td><td class="n">0</td><td class="n">0</td><td class="n">3</td>`, "3 records, 3 readings, all 3 late")
	assert.Contains(t, body, `<p class="note" role="note" id="all-late">Every reading of these hours is late`)
}
