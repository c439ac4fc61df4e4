// Package lakefiles writes the lake on the local file system the way the AWS pipeline does:
// records buffered per dt=/hour= partition of a time field and written as gzip JSON-lines objects
// (as Firehose does for bronze and alerts), rejected records under quarantine/, and alerts both
// printed for people and landed in alerts/.
package lakefiles

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/durable"
)

// Writer buffers records per hour partition of one of their time fields and writes each buffer
// as one gzip JSON-lines object when it reaches MaxBytes, and on Flush. Records whose time field
// cannot be read go to errors/<prefix>/, as Firehose's error output does.
type Writer struct {
	root, prefix, field string
	MaxBytes            int
	// MaxAge is how often its owner flushes it (iotwatch run: bronze's buffers and checkpoint).
	MaxAge time.Duration

	mu      sync.Mutex
	parts   map[string]*buffer // partition path -> buffer
	seq     atomic.Int64
	touched map[time.Time]bool // hours written since the last Touched
	// OneLine keeps records as bronze does (lake.BronzeLine): the line ends after one dropped,
	// one that cannot be a line left out and counted (Unframed), as the bronze function does on
	// AWS; and a batched message in the hour of each of its elements (Add). Unset, a record is
	// written whole, once (what gave up on must be kept, whatever it is).
	OneLine bool

	written  atomic.Int64
	unframed atomic.Int64
}

type buffer struct {
	data  bytes.Buffer
	lines int
}

// The defaults of a Writer's buffers: small objects, written soon, as a local lake wants (Firehose
// on AWS buffers 64 MiB or 60 s).
const (
	DefaultMaxBytes = 4 << 20
	DefaultMaxAge   = 5 * time.Second
)

// NewWriter writes records under root/prefix/, partitioned by field (event_time, alert_time).
// Set OneLine for bronze.
func NewWriter(root, prefix, field string) *Writer {
	return &Writer{root: root, prefix: prefix, field: field, MaxBytes: DefaultMaxBytes, MaxAge: DefaultMaxAge,
		parts: map[string]*buffer{}, touched: map[time.Time]bool{}}
}

// Add buffers one record (a copy of data) and writes any buffer that is full. With OneLine (bronze),
// a record goes to every hour reading.PartitionHours lists: a batched message to the hour of each
// of its elements (DESIGN.md, "Batched messages in the lake"), the same line
// in each. When a write fails, the record is taken back from the hour that failed; the hours
// before it may keep it, and the caller's retry then leaves a second copy there (as a retried
// Firehose delivery does: silver keeps each identity once).
func (w *Writer) Add(data []byte) error {
	if !w.OneLine || w.field != "event_time" {
		hour, ok := reading.PartitionHour(data, w.field)
		return w.add(data, hour, ok)
	}
	var buf [4]time.Time
	hours := reading.PartitionHours(data, buf[:0])
	if len(hours) == 0 {
		return w.add(data, time.Time{}, false)
	}
	for _, h := range hours {
		if err := w.add(data, h, true); err != nil {
			return err
		}
	}
	return nil
}

// AddAt is Add for a record whose partition hour the caller knows (the time of its field,
// truncated to the hour, in UTC): it is not read again from data.
func (w *Writer) AddAt(data []byte, hour time.Time) error { return w.add(data, hour, true) }

func (w *Writer) add(data []byte, hour time.Time, ok bool) error {
	line := bytes.TrimRight(data, "\n")
	if w.OneLine {
		var one bool
		if line, one = lake.BronzeLine(data); !one { // as on AWS: the evaluation quarantines it whole
			w.unframed.Add(1)
			return nil
		}
	}
	var path string
	if ok {
		path = lake.Partition(w.prefix, hour)
	} else {
		errPrefix := w.prefix // the error prefix of bronze is errors/bronze; of errors/x, itself
		if !strings.HasPrefix(errPrefix, lake.Errors+"/") {
			errPrefix = lake.Errors + "/" + errPrefix
		}
		path = errPrefix + "/unpartitioned/" + lake.Partition("", time.Now())[1:]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.parts[path]
	if b == nil {
		b = &buffer{}
		w.parts[path] = b
	}
	before := b.data.Len()
	b.data.Write(line)
	b.data.WriteByte('\n')
	b.lines++
	if ok {
		w.touched[hour] = true
	}
	if b.data.Len() >= w.MaxBytes {
		if err := w.writeLocked(path, b); err != nil {
			// Not accepted: the record leaves the buffer again (the caller retries it, and it
			// must not land twice); the records before it stay, to be written later.
			b.data.Truncate(before)
			b.lines--
			return err
		}
	}
	return nil
}

// Flush writes every buffer (its caller decides when: iotwatch run every MaxAge, and before it
// lets the log go of what was added).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	paths := make([]string, 0, len(w.parts))
	for p := range w.parts {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var errs []error // one partition that cannot be written does not keep the others back
	for _, p := range paths {
		if err := w.writeLocked(p, w.parts[p]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeLocked writes one buffer as an object (a temporary file, fsynced, renamed into place).
func (w *Writer) writeLocked(path string, b *buffer) error {
	dir := filepath.Join(w.root, filepath.FromSlash(path))
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b.data.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	name := fmt.Sprintf("iotwatch-%s-%d-%06d.json.gz", filepath.Base(w.prefix), time.Now().UnixNano(), w.seq.Add(1))
	// Durably: the pipeline's log lets go of these records once they are written.
	if err := durable.WriteHidden(filepath.Join(dir, name), z.Bytes(), 0o644); err != nil {
		return err // no partial file stays behind; the buffer is kept and written again
	}
	w.written.Add(int64(b.lines))
	delete(w.parts, path)
	return nil
}

// buffered reports whether the buffer of hour's partition holds records not written yet.
func (w *Writer) buffered(hour time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.parts[lake.Partition(w.prefix, hour)]
	return ok
}

// ids reads the alert_id of every record in hour's objects (finished ones: not the hidden
// temporary file of a write in progress). A line that is not JSON, or a file that is not gzip,
// has no id to give and is skipped: the lake's readers skip it too.
func (w *Writer) ids(hour time.Time) (map[string]bool, error) {
	dir := filepath.Join(w.root, filepath.FromSlash(lake.Partition(w.prefix, hour)))
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json.gz") {
			continue
		}
		if err := idsOf(filepath.Join(dir, e.Name()), out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// idsOf adds the alert ids of one gzip JSON-lines object to ids.
func idsOf(path string, ids map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil // not gzip: nothing readable in it
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec struct {
			AlertID string `json:"alert_id"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.AlertID != "" {
			ids[rec.AlertID] = true
		}
	}
	return nil // a torn end: the lines before it are counted
}

// Discard drops every buffered record (the caller reports them as not written).
func (w *Writer) Discard() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.parts)
}

// Written is the number of lines written to objects so far (a batched message filed in several
// hours counts in each).
func (w *Writer) Written() int64 { return w.written.Load() }

// Unframed is how many records were left out because they cannot be one line (lake.BronzeLine).
func (w *Writer) Unframed() int64 { return w.unframed.Load() }

// Touch marks hours as touched again (their aggregation failed and is to be tried again).
func (w *Writer) Touch(hours ...time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range hours {
		w.touched[h] = true
	}
}

// Pending returns the hours that received records since the last Touched, and keeps them.
func (w *Writer) Pending() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Time, 0, len(w.touched))
	for h := range w.touched {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// Touched returns the hours that received records since the last call.
func (w *Writer) Touched() []time.Time {
	out := w.Pending()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range out { // only those returned: one touched meanwhile stays for the next call
		delete(w.touched, h)
	}
	return out
}
