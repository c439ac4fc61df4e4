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
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// declaredLake is smallLake where room-001 also sent pm25 (µg/m³) in each reading of its last
// day (silver's metrics, one reading a minute: 10 + the minute) and has its hourly values
// (hourly_metric_values); no device sent power_w, which the catalog declares too.
func declaredLake(t *testing.T) (lakegen.Lake, *reading.Catalog) {
	t.Helper()
	l := smallLake(t)
	cat, err := reading.ParseCatalog(strings.NewReader("name,unit,min,max,floor\npm25,µg/m³,0,1000,1\npower_w,W,0,100000,5\n"), "metrics.csv")
	require.NoError(t, err)
	ctx := context.Background()
	eng, err := duckdbengine.Open(ctx, l.Root)
	require.NoError(t, err)
	defer eng.Close()
	for h := l.End.Add(-48 * time.Hour); h.Before(l.End); h = h.Add(time.Hour) {
		silver := filepath.Join(l.Root, filepath.FromSlash(lake.HourFile(lake.SilverReadingsTable.Prefix, h)))
		if l.End.Sub(h) <= 24*time.Hour {
			tmp := silver + ".new"
			_, err := eng.DB().ExecContext(ctx, fmt.Sprintf(`COPY (SELECT * REPLACE (CASE WHEN device_id = 'room-001'
				THEN MAP {'pm25': 10.0 + minute(event_time)} ELSE metrics END AS metrics) FROM read_parquet('%s')) TO '%s' (FORMAT parquet)`, silver, tmp))
			require.NoError(t, err)
			require.NoError(t, os.Rename(tmp, silver))
		}
		gold := filepath.Join(l.Root, filepath.FromSlash(lake.HourFile(lake.HourlyMetricValuesTable.Prefix, h)))
		require.NoError(t, os.MkdirAll(filepath.Dir(gold), 0o755))
		_, err := eng.DB().ExecContext(ctx, fmt.Sprintf(`COPY (SELECT 'room-001' AS device_id, TIMESTAMP '%s' AS hour_start, 'pm25' AS metric,
			60::BIGINT AS readings, 10.0 AS value_min, 39.5 AS value_avg, 69.0 AS value_max, 66.0 AS value_p95) TO '%s' (FORMAT parquet)`,
			h.Format("2006-01-02 15:04:05"), gold))
		require.NoError(t, err)
	}
	return l, cat
}

// TestDevicePageChartsTheDeclaredMetrics: a device page charts each declared metric the device
// has data for, after the built-ins, with its unit, the thresholds of the rules in force on it and
// the shade of its episodes: its readings over a day (silver's metrics), its hourly minimum,
// average and maximum beyond (hourly_metric_values). A declared metric the device never sent has
// no chart; nor has any without the catalog.
func TestDevicePageChartsTheDeclaredMetrics(t *testing.T) {
	l, cat := declaredLake(t)
	rows, err := rule.ParseCSV(strings.NewReader("user_id,scope,metric,rule,warning,violation\n"+
		"ops,fleet,pm25,high,35,55\nops,fleet,power_w,high,5000,\n"), "rules.csv", cat)
	require.NoError(t, err)
	at := l.End.Add(-3 * time.Hour)
	open := alert.Alert{Kind: alert.Open, AlertTime: at, UserID: "ops", DeviceID: "room-001", Rule: "pm25_high", Severity: alert.Warning,
		Metric: "pm25", WindowStartMs: at.UnixMilli(), WindowEndMs: at.UnixMilli(), ConfigVersion: 1}
	end := open
	end.Kind, end.AlertTime = alert.Resolve, at.Add(20*time.Minute)
	lakegen.WriteAlerts(t, l.Root, []alert.Alert{open, end})
	reads := 0
	s, err := New(context.Background(), Config{Lake: l.Root, Devices: l.Devices, Rules: lakeview.StaticRules(l.Devices, l.Thresholds, rows),
		Catalog: func(context.Context) (*reading.Catalog, error) { reads++; return cat, nil },
		Now:     func() time.Time { return l.End }})
	require.NoError(t, err)
	defer s.Close()

	code, body := get(t, s, "/device/room-001")
	require.Equal(t, 200, code, body)
	c := charts(t, body)
	require.Len(t, c, 5, "the four built-ins and pm25; no power_w: never sent")
	pm := c["pm25"]
	assert.Equal(t, "µg/m³", pm.Unit)
	assert.Equal(t, 1440, pm.Points, "one a minute over the day")
	require.Len(t, pm.Series, 1)
	require.Len(t, pm.Series[0].Values, 1440)
	assert.Equal(t, 10.0, *pm.Series[0].Values[0])
	assert.Equal(t, []lakeview.Line{{Label: "ops pm25 high warning", Value: 35, Severity: "WARNING"}, {Label: "ops pm25 high violation", Value: 55, Severity: "VIOLATION"}}, pm.Thresholds)
	require.Len(t, pm.Bands, 1)
	assert.Equal(t, "ops pm25_high", pm.Bands[0].Label)
	assert.Empty(t, c["co2"].Bands, "pm25's episode on pm25's chart only")
	fig := figure(body, "pm25")
	assert.Contains(t, fig, "dashed: ops pm25 high warning, 35 µg/m³")
	assert.Contains(t, fig, "shaded: ops pm25_high, warning (1 episode)")
	assert.Empty(t, figure(body, "power_w"))
	assert.Less(t, strings.Index(body, `id="chart-light"`), strings.Index(body, `id="chart-pm25"`), "after the built-ins")
	assert.Equal(t, 1, reads, "the catalog in force, read at the page")

	_, body = get(t, s, "/device/room-001?range=7d")
	pm = charts(t, body)["pm25"]
	assert.Equal(t, 48, pm.Points, "two days of hourly values")
	require.Len(t, pm.Series, 3)
	assert.Equal(t, []string{"pm25 min", "pm25 avg", "pm25 max"}, []string{pm.Series[0].Label, pm.Series[1].Label, pm.Series[2].Label})
	assert.Equal(t, 39.5, *pm.Series[1].Values[0])
	assert.Len(t, pm.Thresholds, 2)

	_, body = get(t, s, "/device/room-000")
	assert.NotContains(t, charts(t, body), "pm25", "room-000 sent no pm25")

	plain := newServer(t, l, nil)
	_, body = get(t, plain, "/device/room-001")
	assert.Len(t, charts(t, body), 4, "no catalog: the built-ins only")
}
