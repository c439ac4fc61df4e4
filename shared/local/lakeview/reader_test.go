package lakeview_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

// TestOneReadAtATime: pages read at once from many goroutines (the Reader takes its lock for
// each read: DuckDB's session is one connection) read what they read one after the other, and
// the caches stay whole (go test -race: make test).
func TestOneReadAtATime(t *testing.T) {
	l := lakegen.Make(t, lakegen.Options{Devices: 3, RawDays: 2, RealGold: true})
	r := newReader(t, l)
	ctx := context.Background()
	now, historical := r.Clock()
	require.False(t, historical)
	want, err := r.Overview(ctx, now)
	require.NoError(t, err)
	wantDevice, err := r.Device(ctx, now, "room-001", 7*24*time.Hour)
	require.NoError(t, err)
	r2 := newReader(t, l) // a fresh one: the reads below race to fill its caches
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, r2.Warm(ctx)) })
		wg.Go(func() {
			got, err := r2.Overview(ctx, now)
			assert.NoError(t, err)
			assert.Equal(t, want, got)
		})
		wg.Go(func() {
			got, err := r2.Device(ctx, now, "room-001", 7*24*time.Hour)
			assert.NoError(t, err)
			assert.Equal(t, wantDevice, got)
		})
		wg.Go(func() {
			_, err := r2.Heatmap(ctx, now, "health", "7d", false)
			assert.NoError(t, err)
			_, err = r2.Pipeline(ctx, now)
			assert.NoError(t, err)
			_, err = r2.EpisodesSince(ctx, now, now.Add(-7*24*time.Hour))
			assert.NoError(t, err)
			_, err = r2.Report(ctx, now.Add(-48*time.Hour), now)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
}
