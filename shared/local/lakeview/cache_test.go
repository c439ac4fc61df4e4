package lakeview_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// newReader is a Reader of the lake at its end.
func newReader(t testing.TB, l lakegen.Lake) *lakeview.Reader {
	t.Helper()
	r, err := lakeview.Open(context.Background(), lakeview.Config{Lake: l.Root, Devices: l.Devices, Rules: lakeview.StaticRules(l.Devices, l.Thresholds, nil), Now: func() time.Time { return l.End }})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// TestTheCacheFollowsTheLake: an hour aggregated again shows its new rows, a removed hour goes,
// and one that comes back returns, without restarting the pages.
func TestTheCacheFollowsTheLake(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 2, RealGold: true})
	r := newReader(t, l)
	avgAt := func(hour int) *float64 {
		now, _ := r.Clock()
		p, err := r.Device(context.Background(), now, "room-001", 7*24*time.Hour)
		require.NoError(t, err)
		c := p.Charts[0]
		require.Equal(t, "temperature", c.ID)
		want := l.End.Add(-time.Duration(hour) * time.Hour).Unix()
		for i, x := range c.X {
			if x == want {
				return c.Series[1].Values[i]
			}
		}
		return nil
	}
	before := avgAt(3)
	require.NotNil(t, before)
	hour := l.End.Add(-3 * time.Hour)
	// The hour's readings of room-001 rewritten 5 °C warmer, and aggregated again.
	part := filepath.Join(l.Root, filepath.FromSlash(lake.Partition(lake.Bronze, hour)))
	var lines string
	for m := range 60 {
		ts := hour.Add(time.Duration(m) * time.Minute)
		lines += fmt.Sprintf(`{"device_id":"room-001","event_time":"%s","temperature":%g,"msg_id":"x%d"}`+"\n", ts.Format(time.RFC3339), lakegen.Temp(1, ts)+5, m)
	}
	require.NoError(t, os.RemoveAll(part))
	lakegen.WriteGz(t, filepath.Join(part, "part-1.json.gz"), lines)
	ctx := context.Background()
	eng, err := duckdbengine.Open(ctx, l.Root)
	require.NoError(t, err)
	defer eng.Close()
	old, err := os.Stat(eng.GoldFile(hour))
	require.NoError(t, err)
	_, err = eng.AggregateHour(ctx, aggregate.Hour{Start: hour, ExpectedReadings: 60})
	require.NoError(t, err)
	later := old.ModTime().Add(time.Minute) // a new modification time, whatever the clock's grain
	require.NoError(t, os.Chtimes(eng.GoldFile(hour), later, later))
	after := avgAt(3)
	require.NotNil(t, after)
	assert.InDelta(t, *before+5, *after, 0.01)
	gold := eng.GoldFile(hour)
	saved, err := os.ReadFile(gold)
	require.NoError(t, err)
	require.NoError(t, os.Remove(gold))
	assert.Nil(t, avgAt(3), "a removed hour leaves the page")
	require.NoError(t, os.WriteFile(gold, saved, 0o644))
	assert.InDelta(t, *after, *avgAt(3), 0.01, "and comes back")
}
