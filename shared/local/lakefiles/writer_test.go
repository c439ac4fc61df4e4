package lakefiles

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lines returns every line of the finished objects under dir, and the names of any other file.
func lines(t *testing.T, dir string) (out, others []string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		if !strings.HasSuffix(path, ".json.gz") || strings.HasPrefix(info.Name(), ".") {
			others = append(others, path)
			return nil
		}
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			out = append(out, strings.TrimPrefix(path, dir+"/")[:len("dt=2026-03-01/hour=08")]+" "+sc.Text())
		}
		return sc.Err()
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out, others
}

func TestWriterPartitionsByHourAndKeepsAFailedBuffer(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "bronze", "event_time")
	for _, rec := range []string{
		`{"device_id":"a","event_time":"2026-03-01T08:59:59Z"}`,
		`{"device_id":"a","event_time":"2026-03-01T10:00:00+01:00"}`, // 09:00 UTC
		`{"device_id":"a","event_time":"2026-03-01T09:30:00Z"}`,
	} {
		require.NoError(t, w.Add([]byte(rec)))
	}
	require.NoError(t, w.Add([]byte(`{"event_time":"yesterday"}`)), "an unreadable time goes to errors/, not away")

	// A file where the hour's folder must go: the write fails, and nothing is lost.
	blocker := filepath.Join(root, "bronze", "dt=2026-03-01", "hour=09")
	require.NoError(t, os.MkdirAll(filepath.Dir(blocker), 0o755))
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	require.Error(t, w.Flush())
	require.NoError(t, os.Remove(blocker))
	require.NoError(t, w.Flush())

	got, others := lines(t, filepath.Join(root, "bronze"))
	assert.Equal(t, []string{
		`dt=2026-03-01/hour=08 {"device_id":"a","event_time":"2026-03-01T08:59:59Z"}`,
		`dt=2026-03-01/hour=09 {"device_id":"a","event_time":"2026-03-01T09:30:00Z"}`,
		`dt=2026-03-01/hour=09 {"device_id":"a","event_time":"2026-03-01T10:00:00+01:00"}`,
	}, got, "each record once, in its event time's UTC hour")
	assert.Empty(t, others, "no temporary file left behind")
	bad, _ := lines(t, filepath.Join(root, "errors", "bronze", "unpartitioned"))
	assert.Len(t, bad, 1)
	assert.Equal(t, int64(4), w.Written())

	h8, h9 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, []time.Time{h8, h9}, w.Touched())
	assert.Empty(t, w.Touched(), "Touched forgets what it returned")
	w.Touch(h9)
	assert.Equal(t, []time.Time{h9}, w.Touched(), "an hour touched again (its aggregation failed)")
}
