package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, dir string, opt Options) *Log {
	t.Helper()
	l, err := Open(dir, opt)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll reads every record from off up to the log's end.
func readAll(t *testing.T, l *Log, from uint64) map[uint64]string {
	t.Helper()
	r := l.Reader(from)
	defer r.Close()
	out := map[uint64]string{}
	for end := l.Next(); from < end; from++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rec, err := r.Next(ctx)
		cancel()
		require.NoError(t, err)
		out[rec.Offset] = string(rec.Data)
	}
	return out
}

func TestAppendedRecordsAreReadInOrderAfterARestart(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 1000}) // many segments
	want := map[uint64]string{}
	for i := range 300 {
		off, err := l.Append(fmt.Appendf(nil, "record %d", i))
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), off, "offsets count from 1")
		want[off] = fmt.Sprintf("record %d", i)
	}
	assert.Equal(t, want, readAll(t, l, 1))
	assert.Greater(t, l.Stats().Segments, 3)
	require.NoError(t, l.Close())

	l = open(t, dir, Options{SegmentBytes: 1000})
	assert.Equal(t, uint64(301), l.Next())
	assert.Equal(t, want, readAll(t, l, 1), "every record again after a restart")
	got := readAll(t, l, 250)
	assert.Len(t, got, 51, "a reader starts at its offset, in any segment")
	assert.Equal(t, "record 249", got[250])
	off, err := l.Append([]byte("after"))
	require.NoError(t, err)
	assert.Equal(t, uint64(301), off)
}

func TestATornTailIsCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string, size int64)
	}{
		{"frame cut short", func(t *testing.T, path string, size int64) {
			require.NoError(t, os.Truncate(path, size-3))
		}},
		{"checksum fails", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte("X"), size-1)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"garbage appended", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.Write([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2})
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, Options{})
			for i := range 10 {
				_, err := l.Append(fmt.Appendf(nil, "r%d", i))
				require.NoError(t, err)
			}
			require.NoError(t, l.Close())
			path := filepath.Join(dir, fmt.Sprintf("%020d.seg", 1))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			tc.tear(t, path, fi.Size())

			l = open(t, dir, Options{})
			got := readAll(t, l, 1)
			want := 10
			if tc.name != "garbage appended" {
				want = 9 // the last record was torn
			}
			assert.Len(t, got, want)
			off, err := l.Append([]byte("next"))
			require.NoError(t, err)
			assert.Equal(t, uint64(want+1), off)
			assert.Equal(t, "next", readAll(t, l, off)[off], "a record after the cut is read")
		})
	}
}

func TestGroupCommitTakesManyAppendsPerFsync(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	offs := make(chan uint64, 4000)
	for range 4000 {
		wg.Add(1)
		l.AppendAsync([]byte("payload of a reading"), func(off uint64, err error) {
			defer wg.Done()
			assert.NoError(t, err)
			offs <- off
		})
	}
	wg.Wait()
	close(offs)
	seen := map[uint64]bool{}
	for off := range offs {
		seen[off] = true
	}
	assert.Len(t, seen, 4000, "every append has its own offset")
	st := l.Stats()
	assert.Less(t, st.Syncs, int64(400), "appends waiting together share an fsync (%d fsyncs)", st.Syncs)
	assert.Equal(t, int64(4000*(8+20)), st.Written)
}

func TestAppendsAreAnsweredInOrder(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	var mu sync.Mutex
	var got []uint64
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		l.AppendAsync([]byte("x"), func(off uint64, err error) {
			mu.Lock()
			got = append(got, off)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	for i := range got {
		require.Equal(t, uint64(i+1), got[i], "the answers come in the order of the appends (MQTT acknowledges in order)")
	}
}

func TestSegmentsAreDeletedOnceEveryConsumerIsPast(t *testing.T) {
	dir := t.TempDir()
	opt := Options{SegmentBytes: 200, Consumers: []string{"evaluate", "bronze"}}
	l := open(t, dir, opt)
	for i := range 100 {
		_, err := l.Append(fmt.Appendf(nil, "record %02d", i)) // 17 bytes a frame
		require.NoError(t, err)
	}
	before := l.Stats()
	require.Greater(t, before.Segments, 5)
	require.NoError(t, l.Checkpoint("evaluate", 101))
	assert.Equal(t, before.Segments, l.Stats().Segments, "bronze still needs them")
	require.NoError(t, l.Checkpoint("bronze", 50))
	after := l.Stats()
	assert.Less(t, after.Segments, before.Segments)
	assert.Less(t, after.Bytes, before.Bytes)
	got := readAll(t, l, 50)
	assert.Len(t, got, 51, "what a consumer has not checkpointed stays")
	require.NoError(t, l.Close())

	l = open(t, dir, opt)
	assert.Equal(t, uint64(50), l.Checkpointed("bronze"), "checkpoints survive a restart")
	assert.Equal(t, uint64(101), l.Checkpointed("evaluate"))
	assert.Equal(t, uint64(101), l.Next())
	assert.Len(t, readAll(t, l, 50), 51)
}

func TestTheCapRefusesAppendsUntilCheckpointsFreeRoom(t *testing.T) {
	opt := Options{SegmentBytes: 100, MaxBytes: 400, Consumers: []string{"c"}}
	l := open(t, t.TempDir(), opt)
	accepted := 0
	var err error
	for range 100 {
		if _, err = l.Append([]byte("0123456789abcdef")); err != nil { // 24 bytes a frame
			break
		}
		accepted++
	}
	require.ErrorIs(t, err, ErrFull)
	assert.Contains(t, err.Error(), "--max-log-bytes 400")
	assert.Equal(t, 16, accepted, "400 bytes hold 16 frames of 24")
	st := l.Stats()
	assert.True(t, st.Full)
	assert.Equal(t, int64(1), st.Refused)
	assert.LessOrEqual(t, st.Bytes, int64(400))

	require.NoError(t, l.Checkpoint("c", l.Next())) // consumed: the sealed segments go
	assert.False(t, l.Stats().Full, "room again as soon as the segments go, before any new append")
	off, err := l.Append([]byte("0123456789abcdef"))
	require.NoError(t, err, "room again")
	assert.Equal(t, uint64(17), off, "the refused append took no offset")
	assert.False(t, l.Stats().Full)
	assert.Equal(t, "0123456789abcdef", readAll(t, l, off)[off])
}

// TestAFullDiskLosesNothing fills the "disk" (a file size limit, so that the write fails part
// way, as ENOSPC does) under appends: the refused ones are not acknowledged, the segment keeps
// whole frames only, and appends succeed again once there is room.
func TestAFullDiskLosesNothing(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	for i := range 10 {
		_, err := l.Append(fmt.Appendf(nil, "before %d", i))
		require.NoError(t, err)
	}
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing the process
	defer signal.Reset(syscall.SIGXFSZ)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 4096, Max: old.Max}))
	big := make([]byte, 3000)
	var refusals []error
	for range 3 {
		if _, err := l.Append(big); err != nil {
			refusals = append(refusals, err)
		}
	}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	require.NotEmpty(t, refusals, "a write past the limit must have failed")
	for _, err := range refusals {
		assert.ErrorIs(t, err, ErrFull)
		assert.Contains(t, err.Error(), "file too large")
	}
	assert.True(t, l.Stats().Full)
	accepted := 10 + 3 - len(refusals)

	off, err := l.Append([]byte("after"))
	require.NoError(t, err, "room again")
	assert.Equal(t, uint64(accepted+1), off)
	assert.False(t, l.Stats().Full)
	require.NoError(t, l.Close())
	l = open(t, dir, Options{})
	got := readAll(t, l, 1)
	assert.Len(t, got, accepted+1, "every acknowledged record, and nothing torn")
	assert.Equal(t, "before 9", got[10])
	assert.Equal(t, "after", got[uint64(accepted+1)])
}

func TestAReaderWaitsForAppendsAndEndsWithClose(t *testing.T) {
	l := open(t, t.TempDir(), Options{SegmentBytes: 64})
	r := l.Reader(1)
	defer r.Close()
	got := make(chan string, 100)
	errc := make(chan error, 1)
	go func() {
		for {
			rec, err := r.Next(context.Background())
			if err != nil {
				errc <- err
				return
			}
			got <- string(rec.Data)
		}
	}()
	for i := range 50 { // across many segments, the reader waiting at each end
		_, err := l.Append(fmt.Appendf(nil, "r%02d", i))
		require.NoError(t, err)
		select {
		case s := <-got:
			assert.Equal(t, fmt.Sprintf("r%02d", i), s)
		case <-time.After(5 * time.Second):
			t.Fatalf("record %d not read", i)
		}
	}
	require.NoError(t, l.Close())
	select {
	case err := <-errc:
		assert.True(t, errors.Is(err, ErrClosed))
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not end with Close")
	}
	_, err := l.Append([]byte("late"))
	assert.ErrorIs(t, err, ErrClosed)
}

func TestAReaderStopsWithItsContext(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := l.Reader(1).Next(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	require.NoError(b, err)
	defer l.Close()
	payload := make([]byte, 180) // a reading and its frame
	b.SetBytes(int64(len(payload) + frameHeader))
	b.ResetTimer()
	var wg sync.WaitGroup
	for range b.N {
		wg.Add(1)
		l.AppendAsync(payload, func(uint64, error) { wg.Done() })
	}
	wg.Wait()
	st := l.Stats()
	b.ReportMetric(float64(st.Appended)/float64(st.Syncs), "records/fsync")
}

// BenchmarkReopen measures the restart: the time to open a log of 1 GB and read its first
// record after a checkpoint in the last segment.
func BenchmarkReopen(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{})
	require.NoError(b, err)
	payload := make([]byte, 4096)
	var wg sync.WaitGroup
	const n = 256 * 1024 // 1 GiB
	for range n {
		wg.Add(1)
		l.AppendAsync(payload, func(uint64, error) { wg.Done() })
	}
	wg.Wait()
	require.NoError(b, l.Checkpoint("c", n-1000))
	require.NoError(b, l.Close())
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{Consumers: []string{"c"}})
		require.NoError(b, err)
		r := l.Reader(l.Checkpointed("c"))
		_, err = r.Next(context.Background())
		require.NoError(b, err)
		r.Close()
		l.Close()
	}
}

// TestAReaderNeverSeesAFailedCommit: bytes written and not yet fsynced may be cut off again (the
// fsync failed); a reader filling its buffer meanwhile must not keep them, or it would hand them
// out under the offsets of the records acknowledged after.
func TestAReaderNeverSeesAFailedCommit(t *testing.T) {
	var r *Reader
	fail := false
	opt := Options{sync: func(f *os.File) error {
		if !fail {
			return f.Sync()
		}
		// The refused bytes are in the file: the reader reads record 1 now.
		rec, err := r.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "acked-1", string(rec.Data))
		return errors.New("injected fsync failure")
	}}
	l := open(t, t.TempDir(), opt)
	r = l.Reader(1)
	defer r.Close()
	_, err := l.Append([]byte("acked-1"))
	require.NoError(t, err)
	fail = true
	_, err = l.Append([]byte("REFUSED"))
	require.ErrorIs(t, err, ErrFull)
	fail = false
	off, err := l.Append([]byte("acked-2"))
	require.NoError(t, err)
	require.Equal(t, uint64(2), off)
	rec, err := r.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "acked-2", string(rec.Data), "the reader handed out a refused record")
}

func TestAZeroFilledTailIsNotRecords(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	_, err := l.Append([]byte("one"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 1)), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 4096)) // what a power cut can leave at the end of a file
	require.NoError(t, err)
	require.NoError(t, f.Close())
	l = open(t, dir, Options{})
	assert.Equal(t, uint64(2), l.Next(), "zeros are not records")
	_, err = l.Append(nil)
	assert.Error(t, err, "an empty record")
}

// TestTheCapStaysFullUntilTheRefusedFrameFits frees less than the refused frame needs: the log
// says it is full until a checkpoint frees enough for it.
func TestTheCapStaysFullUntilTheRefusedFrameFits(t *testing.T) {
	l := open(t, t.TempDir(), Options{SegmentBytes: 100, MaxBytes: 400, Consumers: []string{"c"}})
	small := []byte("0123456789abcdef") // 24 bytes a frame
	for range 16 {
		_, err := l.Append(small)
		require.NoError(t, err)
	}
	_, err := l.Append(make([]byte, 150)) // a frame of 158 bytes: 384 + 158 > 400
	require.ErrorIs(t, err, ErrFull)
	require.True(t, l.Stats().Full)
	require.NoError(t, l.Checkpoint("c", 5)) // the first segment (4 frames, 96 bytes) goes: 288 + 158 > 400
	st := l.Stats()
	assert.Equal(t, int64(288), st.Bytes)
	assert.True(t, st.Full, "96 bytes freed leave no room for 158")
	require.NoError(t, l.Checkpoint("c", 9)) // 192 + 158 <= 400
	assert.False(t, l.Stats().Full)
	_, err = l.Append(make([]byte, 150))
	require.NoError(t, err)
}

// TestAFullDiskClearsOnceCheckpointsFreeTheRefusedBytes: after a write the disk refused, the log
// says it has room again once checkpoints have deleted at least the refused frame's bytes, with
// no append meanwhile.
func TestAFullDiskClearsOnceCheckpointsFreeTheRefusedBytes(t *testing.T) {
	var fail atomic.Bool
	opt := Options{SegmentBytes: 100, Consumers: []string{"c"}, sync: func(f *os.File) error {
		if fail.Load() {
			return errors.New("no space left on device (injected)")
		}
		return f.Sync()
	}}
	l := open(t, t.TempDir(), opt)
	for range 12 { // three segments of four frames of 24 bytes
		_, err := l.Append([]byte("0123456789abcdef"))
		require.NoError(t, err)
	}
	fail.Store(true)
	_, err := l.Append(make([]byte, 150)) // a frame of 158 bytes
	require.ErrorIs(t, err, ErrFull)
	fail.Store(false)
	require.True(t, l.Stats().Full)
	require.NoError(t, l.Checkpoint("c", 5)) // 96 bytes freed: not enough for 158
	assert.True(t, l.Stats().Full)
	require.NoError(t, l.Checkpoint("c", 9)) // 192 freed
	assert.False(t, l.Stats().Full, "room again, before any new append")
}
