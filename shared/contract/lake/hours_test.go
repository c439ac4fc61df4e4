package lake

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHour(t *testing.T) {
	h := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{Partition(Bronze, h), h, true},
		{Partition(Quarantine, h.Add(16*time.Hour)) + "part-1.json.gz", h.Add(16 * time.Hour), true},
		{HourFile("gold/hourly_metrics", h.Add(-7*time.Hour)), h.Add(-7 * time.Hour), true},
		{"bronze/dt=2026-03-01/hour=07", h, true},
		{"bronze/dt=2026-03-01/hour=7/", time.Time{}, false},  // one digit
		{"bronze/dt=2026-03-01/hour=24/", time.Time{}, false}, // no such hour
		{"bronze/dt=2026-03-01/hour=29/", time.Time{}, false},
		{"bronze/dt=2026-3-01/hour=07/", time.Time{}, false},
		{"bronze/dt=2026-03-01/day.parquet", time.Time{}, false},
		{"bronze/dt=2026-03-01/hour=07.json", time.Time{}, false},
		{"bronze/hour=07/", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := ParseHour(c.key)
		assert.Equal(t, c.ok, ok, c.key)
		assert.Equal(t, c.want, got, c.key)
	}
}

// TestPartitionRoundTrip: every hour of a year, in any zone, reads back from its key as its UTC hour.
func TestPartitionRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC-5", -5*3600)
	for h := time.Date(2025, 12, 31, 20, 30, 0, 0, zone); h.Year() < 2027; h = h.Add(time.Hour) {
		got, ok := ParseHour(Partition(Alerts, h))
		require.True(t, ok, h)
		require.Equal(t, h.UTC().Truncate(time.Hour), got)
	}
}

func TestHours(t *testing.T) {
	from := time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)
	assert.Equal(t, []time.Time{from.Truncate(time.Hour), from.Truncate(time.Hour).Add(time.Hour)}, Hours(from, from.Add(90*time.Minute)))
	assert.Empty(t, Hours(from, from.Add(-time.Hour)))
	assert.Len(t, Hours(from.Truncate(time.Hour), from.Truncate(time.Hour).Add(24*time.Hour)), 24, "to is excluded")
}

// countingDir counts the listings of a local lake.
type countingDir struct {
	Dir
	calls int
}

func (c *countingDir) List(ctx context.Context, prefix string) ([]string, error) {
	c.calls++
	return c.Dir.List(ctx, prefix)
}

func TestHourObjects(t *testing.T) {
	root := t.TempDir()
	put := func(key string) {
		p := Dir(root).Path(key)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	h := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	for _, k := range []string{
		Partition(Quarantine, h.Add(-time.Hour)) + "before.json.gz", // before the range
		Partition(Quarantine, h) + "b.json.gz",
		Partition(Quarantine, h) + "a.json.gz",
		Partition(Quarantine, h) + ".a.json.gz.tmp", // a write in progress
		Partition(Quarantine, h) + "notes.txt",      // another suffix
		Partition(Quarantine, h) + "deeper/c.json.gz",
		Partition(Quarantine, h.Add(2*time.Hour)) + "next-day.json.gz",
		Partition(Quarantine, h.Add(3*time.Hour)) + "after.json.gz", // at `to`: excluded
		"quarantine/dt=2026-03-02/hour=7/bad-name.json.gz",
		Partition(Bronze, h) + "other-prefix.json.gz",
	} {
		put(k)
	}
	l := &countingDir{Dir: Dir(root)}
	got, err := HourObjects(context.Background(), l, Quarantine, h, h.Add(3*time.Hour), ".json.gz")
	require.NoError(t, err)
	assert.Equal(t, []string{
		Partition(Quarantine, h) + "a.json.gz",
		Partition(Quarantine, h) + "b.json.gz",
		Partition(Quarantine, h.Add(2*time.Hour)) + "next-day.json.gz",
	}, got)
	assert.Equal(t, 2, l.calls, "one listing a day")

	none, err := HourObjects(context.Background(), Dir(filepath.Join(root, "missing")), Quarantine, h, h.Add(time.Hour), "")
	require.NoError(t, err)
	assert.Empty(t, none, "a lake with nothing there")

	latest, ok := LatestHour(Dir(root), Quarantine)
	require.True(t, ok)
	assert.Equal(t, h.Add(3*time.Hour), latest, "the bad name is passed over")
	_, ok = LatestHour(Dir(root), Alerts)
	assert.False(t, ok)
}

// failingDay fails the listing of one day.
type failingDay struct {
	Dir
	day string
}

func (f failingDay) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix == f.day {
		return nil, os.ErrPermission
	}
	return f.Dir.List(ctx, prefix)
}

// TestADayThatCannotBeListed: the error says so, and the other days are still given.
func TestADayThatCannotBeListed(t *testing.T) {
	root := t.TempDir()
	h := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	for _, k := range []string{Partition(Alerts, h) + "a.json.gz", Partition(Alerts, h.Add(3*time.Hour)) + "b.json.gz"} {
		p := Dir(root).Path(k)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	got, err := HourObjects(context.Background(), failingDay{Dir(root), DayPrefix(Alerts, h)}, Alerts, h, h.Add(4*time.Hour), "")
	require.ErrorIs(t, err, os.ErrPermission)
	assert.Equal(t, []string{Partition(Alerts, h.Add(3*time.Hour)) + "b.json.gz"}, got)
}
