package lakefiles

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
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

// TestAFailedAddKeepsNothing: an Add whose write fails returns the error and takes the record
// back, so a caller's retry lands it once (before, three failed publishes landed one alert three
// times). The records added before stay, to be written later.
func TestAFailedAddKeepsNothing(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "alerts", "alert_time")
	first := `{"alert_id":"a","alert_time":"2026-03-01T08:00:00Z"}`
	require.NoError(t, w.Add([]byte(first)))
	w.MaxBytes = 1 // the next Add writes the buffer
	blocker := filepath.Join(root, "alerts", "dt=2026-03-01", "hour=08")
	require.NoError(t, os.MkdirAll(filepath.Dir(blocker), 0o755))
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	second := `{"alert_id":"b","alert_time":"2026-03-01T08:30:00Z"}`
	for range 3 {
		require.Error(t, w.Add([]byte(second)))
	}
	require.NoError(t, os.Remove(blocker))
	require.NoError(t, w.Add([]byte(second))) // the retry that works
	require.NoError(t, w.Flush())
	got, _ := lines(t, filepath.Join(root, "alerts"))
	assert.Equal(t, []string{"dt=2026-03-01/hour=08 " + first, "dt=2026-03-01/hour=08 " + second}, got)
}

// TestPublishIsOnDiskOrFailed: the local publisher's alerts are written when Publish returns
// (a process killed right after loses none), and a failed write takes them all back.
func TestPublishIsOnDiskOrFailed(t *testing.T) {
	root := t.TempDir()
	p := NewPublisher(nil, NewWriter(root, "alerts", "alert_time"))
	n := evaluator.Notice{Alert: alert.Alert{AlertID: "x", Kind: alert.Open, AlertTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Rule: alert.TemperatureHigh}}
	blocker := filepath.Join(root, "alerts", "dt=2026-03-01", "hour=08")
	require.NoError(t, os.MkdirAll(filepath.Dir(blocker), 0o755))
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	for range 2 {
		errs := p.Publish(context.Background(), []evaluator.Notice{n})
		require.Error(t, errs[0])
	}
	require.NoError(t, os.Remove(blocker))
	require.NoError(t, p.Publish(context.Background(), []evaluator.Notice{n})[0])
	got, _ := lines(t, filepath.Join(root, "alerts")) // no Flush: it is on disk already
	assert.Len(t, got, 1)
}

// TestAPartialWriteLeavesNoTemporaryFile: a write that fails half-way (the file size limit, as a
// full disk would) leaves no temporary file, keeps the buffer, and the next flush writes it whole.
// (The test above fails before any file exists.)
func TestAPartialWriteLeavesNoTemporaryFile(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "bronze", "event_time")
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range 200 { // ~200 KiB of data gzip cannot shrink much
		var noise strings.Builder
		for range 60 {
			fmt.Fprintf(&noise, "%016x", rng.Uint64())
		}
		rec := fmt.Sprintf(`{"device_id":"a","event_time":"2026-03-01T08:%02d:%02dZ","noise":%q}`, i/60, i%60, noise.String())
		require.NoError(t, w.Add([]byte(rec)))
		want = append(want, "dt=2026-03-01/hour=08 "+rec)
	}
	sort.Strings(want)

	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing the process
	defer signal.Reset(syscall.SIGXFSZ)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 8192, Max: old.Max}))
	err := w.Flush()
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	require.Error(t, err, "the write must have failed part-way")
	assert.Contains(t, err.Error(), "file too large")
	got, others := lines(t, filepath.Join(root, "bronze"))
	assert.Empty(t, got)
	assert.Empty(t, others, "no partial temporary file left behind")

	require.NoError(t, w.Flush())
	got, others = lines(t, filepath.Join(root, "bronze"))
	assert.Equal(t, want, got, "the kept buffer is written whole, once")
	assert.Empty(t, others)
}

// A message is one bronze line as on AWS (lake.BronzeLine): line ends after it dropped, and one
// that cannot be a line (a line break inside, nothing but line ends) left out and counted.
func TestWriterKeepsOneMessageALine(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "bronze", "event_time")
	w.OneLine = true
	for _, rec := range []string{
		"{\"device_id\":\"a\",\"event_time\":\"2026-03-01T08:00:00Z\"}\r\n",
		"{\"device_id\":\"a\",\n\"event_time\":\"2026-03-01T08:01:00Z\"}",
		"\r\n",
		"",
	} {
		require.NoError(t, w.Add([]byte(rec)))
	}
	require.NoError(t, w.Flush())
	got, _ := lines(t, filepath.Join(root, "bronze"))
	assert.Equal(t, []string{`dt=2026-03-01/hour=08 {"device_id":"a","event_time":"2026-03-01T08:00:00Z"}`}, got)
	assert.Equal(t, int64(3), w.Unframed())
	assert.Equal(t, int64(1), w.Written())
}

// Without OneLine (the failed batches, the alerts) a record is kept whole, whatever it holds.
func TestWriterKeepsWhatItIsGiven(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "errors/failed-batches", "event_time")
	require.NoError(t, w.Add([]byte("{\"device_id\":\"a\",\n\"event_time\":\"2026-03-01T08:01:00Z\"}")))
	require.NoError(t, w.Flush())
	assert.Equal(t, int64(1), w.Written())
	assert.Zero(t, w.Unframed())
}

// TestWriterFilesABatchInEveryHourOfItsElements: bronze keeps a batched message as one line, the
// same line in the partition of each hour its elements' event times fall in (reading.PartitionHours);
// a batch rejected whole stays in its first element's hour, and writers other than bronze's keep
// a record once.
func TestWriterFilesABatchInEveryHourOfItsElements(t *testing.T) {
	root := t.TempDir()
	w := NewWriter(root, "bronze", "event_time")
	w.OneLine = true
	batch := `{"device_id":"m","readings":[{"event_time":"2026-03-01T08:58:00Z","co2":1},{"event_time":"2026-03-01T09:01:00Z","co2":2},{"event_time":"2026-03-01T08:59:00Z","co2":3}]}`
	whole := `{"device_id":"m","event_time":"2026-03-01T08:00:00Z","readings":[{"event_time":"2026-03-01T08:58:00Z","co2":1},{"event_time":"2026-03-01T10:01:00Z","co2":2}]}`
	require.NoError(t, w.Add([]byte(batch+"\n")))
	require.NoError(t, w.Add([]byte(whole)))
	require.NoError(t, w.Flush())
	got, _ := lines(t, filepath.Join(root, "bronze"))
	assert.Equal(t, []string{"dt=2026-03-01/hour=08 " + whole, "dt=2026-03-01/hour=08 " + batch, "dt=2026-03-01/hour=09 " + batch}, got)
	assert.Equal(t, int64(3), w.Written(), "a line in two hours is written twice")
	h8, h9 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, []time.Time{h8, h9}, w.Touched(), "both hours are to be aggregated")

	failed := NewWriter(root, "errors/failed-batches", "event_time")
	require.NoError(t, failed.Add([]byte(batch)))
	require.NoError(t, failed.Flush())
	got, _ = lines(t, filepath.Join(root, "errors", "failed-batches"))
	assert.Equal(t, []string{"dt=2026-03-01/hour=08 " + batch}, got)
}

// TestConsoleLines: an alert's line names its device, metric, value and threshold; a person's
// action (ACK, SNOOZE) names the device its row carries, and no value or threshold.
func TestConsoleLines(t *testing.T) {
	var out strings.Builder
	p := NewPublisher(&out, NewWriter(t.TempDir(), "alerts", "alert_time"))
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	open := evaluator.Notice{Device: device.Device{ID: "room-1", Name: "Office 1"}, Alert: alert.Alert{AlertID: "a", Kind: alert.Open, Severity: alert.Violation, AlertTime: at,
		Rule: alert.TemperatureHigh, UserID: "alice", DeviceID: "room-1", Metric: "temperature", ObservedValue: alert.Num(27.5), ThresholdValue: alert.Num(26)}}
	ack := evaluator.Notice{Alert: alert.Alert{AlertID: "b", Kind: "ACK", Severity: alert.Violation, AlertTime: at, Rule: alert.TemperatureHigh, UserID: "alice", DeviceID: "room-1", Via: "link"}}
	snooze := evaluator.Notice{Alert: alert.Alert{AlertID: "c", Kind: "SNOOZE", AlertTime: at, Rule: alert.TemperatureHigh, UserID: "alice", DeviceID: "room-1", Via: "cli",
		WindowEndMs: at.Add(2 * time.Hour).UnixMilli()}}
	for _, err := range p.Publish(context.Background(), []evaluator.Notice{open, ack, snooze}) {
		require.NoError(t, err)
	}
	want := "ALERT 2026-03-01T08:00:00Z OPEN     VIOLATION temperature_high   Office 1 (room-1) user=alice temperature=27.5 threshold=26\n" +
		"ACTION 2026-03-01T08:00:00Z ACK      VIOLATION temperature_high   room-1       user=alice via link\n" +
		"ACTION 2026-03-01T08:00:00Z SNOOZE             temperature_high   room-1       user=alice until 2026-03-01T10:00:00Z via cli\n"
	assert.Equal(t, want, out.String())
}

// TestARetryAfterAFailedFlushLandsEachAlertOnce is the regression test of issue 26's full disk:
// a flush that wrote one hour's alerts and failed on another's refused them all, and the retry
// wrote the first hour's again (one alert, two rows, one id). Now the hours written keep theirs
// (accepted, printed once), the retry writes only what was refused, and a publisher started
// afresh on the same lake (a restart) writes no second row either.
func TestARetryAfterAFailedFlushLandsEachAlertOnce(t *testing.T) {
	root := t.TempDir()
	var printed strings.Builder
	p := NewPublisher(&printed, NewWriter(root, "alerts", "alert_time"))
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	notices := []evaluator.Notice{{Alert: alert.Alert{AlertID: "small", Kind: alert.Open, AlertTime: at, Rule: alert.TemperatureHigh}}}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 120 { // ~8 KiB of random ids (4 KiB gzipped) in the next hour: past the limit below
		notices = append(notices, evaluator.Notice{Alert: alert.Alert{AlertID: fmt.Sprintf("big-%d-%016x%016x%016x%016x", i,
			rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()), Kind: alert.Open, AlertTime: at.Add(time.Hour), Rule: alert.TemperatureHigh}})
	}

	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing the process
	defer signal.Reset(syscall.SIGXFSZ)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 2048, Max: old.Max}))
	errs := p.Publish(context.Background(), notices)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	assert.NoError(t, errs[0], "08:00's file was written: its alert is published")
	for i, err := range errs[1:] {
		require.Error(t, err, "alert %d of 09:00, whose write failed", i)
	}
	got, _ := lines(t, filepath.Join(root, "alerts"))
	require.Len(t, got, 1, "the full disk wrote 08:00 only")

	for range 2 { // the evaluation's retry of the device publishes all its alerts again
		for i, err := range p.Publish(context.Background(), notices) {
			require.NoError(t, err, "alert %d", i)
		}
	}
	// A restart: a new publisher finds the ids in the files.
	again := NewPublisher(io.Discard, NewWriter(root, "alerts", "alert_time"))
	for i, err := range again.Publish(context.Background(), notices) {
		require.NoError(t, err, "alert %d", i)
	}

	got, _ = lines(t, filepath.Join(root, "alerts"))
	assert.Len(t, got, len(notices), "one row per alert id")
	ids := map[string]int{}
	for _, l := range got {
		var rec struct {
			AlertID string `json:"alert_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(l[strings.Index(l, " ")+1:]), &rec))
		ids[rec.AlertID]++
	}
	for _, n := range notices {
		assert.Equal(t, 1, ids[n.Alert.AlertID], "rows of %s", n.Alert.AlertID)
	}
	assert.Equal(t, len(notices), strings.Count(printed.String(), "ALERT "), "each alert printed once by the first publisher")
}
