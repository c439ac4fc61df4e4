package wal

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segPath is the path of the segment whose first offset is first.
func segPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.seg", first))
}

// flip flips the bits of mask in the byte at off of path.
func flip(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= mask
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// fill appends n records of 16 bytes a frame ("rec 0000" …) to a new log in dir, checkpoints
// both consumers at checkpoint (0: none), and closes it.
func fill(t *testing.T, dir string, n int, checkpoint uint64) {
	t.Helper()
	l := open(t, dir, Options{Consumers: []string{"evaluate", "bronze"}})
	for i := range n {
		_, err := l.Append(fmt.Appendf(nil, "rec %04d", i))
		require.NoError(t, err)
	}
	if checkpoint > 0 {
		require.NoError(t, l.Checkpoint("evaluate", checkpoint))
		require.NoError(t, l.Checkpoint("bronze", checkpoint))
	}
	require.NoError(t, l.Close())
}

// TestCheckpointsPastTheLogRefuseToOpen (F1): a log behind its consumers' checkpoints (its
// segment deleted) would give new records offsets the consumers skip: acknowledged and never
// read. It is refused, naming the checkpoint and the log's range.
func TestCheckpointsPastTheLogRefuseToOpen(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 10, 11)
	require.NoError(t, os.Remove(segPath(dir, 1)))
	_, err := Open(dir, Options{Consumers: []string{"evaluate", "bronze"}})
	require.ErrorIs(t, err, ErrBehind)
	assert.Contains(t, err.Error(), "the checkpoint of evaluate is 11, and the log holds offsets 1 to 1")
	assert.Contains(t, err.Error(), "--repair-log")
}

// TestARepairedLogReadsWhatComesNext: under Repair the checkpoints move to the log's end, loudly,
// and what is appended then reaches the consumers.
func TestARepairedLogReadsWhatComesNext(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 10, 11)
	require.NoError(t, os.Remove(segPath(dir, 1)))
	var logs bytes.Buffer
	l := open(t, dir, Options{Consumers: []string{"evaluate", "bronze"}, Repair: true, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	assert.Contains(t, logs.String(), "LOG REPAIRED")
	from := l.Checkpointed("bronze")
	first, err := l.Append([]byte("after the repair"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, first, from, "the new record is at or after the checkpoint")
	assert.Equal(t, map[uint64]string{first: "after the repair"}, readAll(t, l, from))
}

// TestABadRecordFollowedByGoodOnesIsDamage (F1): a flipped byte in the middle of the last
// segment is not a torn tail: 499 valid records follow it. The log is refused, the segment left
// whole; under Repair the segment is kept aside and cut, and the loss is logged.
func TestABadRecordFollowedByGoodOnesIsDamage(t *testing.T) {
	for _, c := range []struct {
		name string
		off  int64
	}{{"payload", 500*16 + 10}, {"length", 500 * 16}, {"checksum", 500*16 + 5}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 1000, 0)
			path := segPath(dir, 1)
			flip(t, path, c.off, 0x40)
			_, err := Open(dir, Options{Consumers: []string{"evaluate", "bronze"}})
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "the record at offset 501 (byte 8000) is unreadable and 499 valid records follow it")
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, int64(16000), fi.Size(), "nothing cut off")

			var logs bytes.Buffer
			l := open(t, dir, Options{Consumers: []string{"evaluate", "bronze"}, Repair: true, Log: slog.New(slog.NewTextHandler(&logs, nil))})
			assert.Contains(t, logs.String(), "lost_records=499")
			aside, _ := filepath.Glob(path + ".damaged-*")
			require.Len(t, aside, 1, "the damaged segment is kept")
			kept, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			assert.Len(t, kept, 16000)
			got := readAll(t, l, 1)
			assert.Len(t, got, 500, "the records before the damage")
			assert.Equal(t, "rec 0499", got[500])
		})
	}
}

// TestATornTailAfterDamageIsStillATail: garbage with no valid record after it is a torn tail,
// cut off as before, however long.
func TestATornTailAfterDamageIsStillATail(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 100, 0)
	f, err := os.OpenFile(segPath(dir, 1), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(bytes.Repeat([]byte("half a record, no checksum that holds "), 300))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	l := open(t, dir, Options{})
	assert.Equal(t, uint64(101), l.Next())
}
