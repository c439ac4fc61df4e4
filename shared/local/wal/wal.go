// Package wal is the one-machine pipeline's durable log: what the broker acknowledges is
// appended here and fsynced first, and the consumers (the evaluation, the bronze writer) read it
// from their checkpoints, so that a crash or a power cut loses nothing that was acknowledged and
// the lag of a slow consumer lives on disk, not in memory.
//
// Records go to segment files (<first offset>.seg) as frames of a 4-byte length, a 4-byte
// CRC-32C of the length and the payload, and the payload (never empty: a zero-filled tail, which
// some file systems leave after a power cut, is not a record). Appends are committed in groups: every record waiting
// when a commit starts is written with one write and one fsync. On Open the last segment is
// checked frame by frame and a torn tail (a frame cut short or whose checksum fails, what a
// crash mid-write leaves) is cut off. A segment is deleted once every consumer's checkpoint is
// past it.
package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/iotwatch/iotwatch/shared/local/durable"
)

// Options tunes a log.
type Options struct {
	// SegmentBytes is the size at which the log starts a new segment; default DefaultSegmentBytes.
	SegmentBytes int64
	// MaxBytes caps the bytes of the log on disk: appends that would pass it fail with ErrFull
	// until consumers' checkpoints free segments. 0: no cap (the disk is the cap).
	MaxBytes int64
	// Consumers name the readers whose checkpoints keep segments: a segment is deleted once every
	// one of them is past it.
	Consumers []string
	// MaxRecord refuses larger payloads; default DefaultMaxRecord.
	MaxRecord int
	Log       *slog.Logger
	// Repair opens a log that Open would refuse (ErrCorrupt, ErrBehind), loudly: a damaged last
	// segment is copied aside (<segment>.damaged-<time>) and cut at its first bad record, and a
	// checkpoint outside the log is moved to the log's nearest end; each is logged as an error
	// that says what was lost. Without it, such a log is refused and nothing is changed.
	Repair bool
	// sync makes a commit durable (tests inject failures); default (*os.File).Sync.
	sync func(*os.File) error
}

// The defaults of Options.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultMaxRecord    = 1 << 20
	// groupMax bounds the records of one commit (a commit takes what waits, up to this).
	groupMax = 8192
	// frameHeader is the length and checksum before each payload.
	frameHeader = 8
)

// ErrFull is returned (wrapped) by appends refused because the log reached MaxBytes or the disk
// is full: nothing of them was kept, and the caller should not acknowledge them.
var ErrFull = errors.New("the log is full")

// ErrClosed is returned by appends after Close, and by readers once the log is closed and read.
var ErrClosed = errors.New("the log is closed")

// ErrCorrupt is returned (wrapped) by Open for a damaged last segment: a bad record with valid
// ones after it, which is damage, not the torn tail a crash leaves (that is cut off).
var ErrCorrupt = errors.New("the log is damaged")

// ErrBehind is returned (wrapped) by Open when a consumer's checkpoint is outside the log: the
// records between them are gone, and records appended now would take offsets it skips.
var ErrBehind = errors.New("the log is behind its checkpoints")

// repairHint ends the errors of a log Open refuses.
const repairHint = "; start with --repair-log to keep the damaged file aside and go on from what is readable (what is lost is logged)"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Log is an open log.
type Log struct {
	dir string
	opt Options
	log *slog.Logger

	reqs     chan *request
	pending  *semaphore.Weighted // bytes of the appends in reqs and in the commit
	stopped  chan struct{}       // closed when the committer has ended
	closing  sync.Once
	closeMu  sync.RWMutex // appends hold it shared; Close takes it to close reqs
	isClosed bool

	mu          sync.Mutex
	segs        []segment // in order; the last is the one appended to
	f           *os.File  // the last segment, open for appending
	next        uint64    // the offset the next record gets; records below it are durable
	bytes       int64     // bytes of every segment
	checkpoints map[string]uint64
	notify      chan struct{} // closed (and replaced) on each commit and on Close
	done        bool          // closed and the committer ended
	full        bool          // the last commit was refused for want of room
	broken      error         // set when a failed write could not be cut off: nothing more is taken

	// fullNeed is the frame the refused commit began with (bytes) and fullDisk says the disk, not
	// MaxBytes, refused it: the log has room again once checkpoints free enough for that frame.
	fullNeed int64
	fullDisk bool
	freed    int64 // bytes of segments deleted since the refusal

	syncs     atomic.Int64
	syncNanos atomic.Int64
	syncHist  [len(SyncBounds) + 1]atomic.Int64 // commits by duration: ≤ SyncBounds[i], then the rest
	appended  atomic.Int64
	written   atomic.Int64 // bytes written, frames included
	refused   atomic.Int64
}

type segment struct {
	first uint64 // the offset of its first record
	path  string
	size  int64
}

type request struct {
	recs [][]byte
	done func(first uint64, err error) // the offset of the first of recs
	size int64                         // taken from Log.pending
}

// pendingBytes bounds the bytes of the appends waiting for a commit.
const pendingBytes = 32 << 20

// Open opens (or creates) the log in dir. Offsets start at 1.
func Open(dir string, opt Options) (*Log, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.MaxBytes > 0 && opt.SegmentBytes > opt.MaxBytes/8 {
		// Room is freed a segment at a time: a cap needs several.
		opt.SegmentBytes = max(opt.MaxBytes/8, 64)
	}
	if opt.MaxRecord <= 0 {
		opt.MaxRecord = DefaultMaxRecord
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.sync == nil {
		opt.sync = (*os.File).Sync
	}
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the log directory: %w", err)
	}
	l := &Log{dir: dir, opt: opt, log: opt.Log, reqs: make(chan *request, groupMax), stopped: make(chan struct{}),
		pending:     semaphore.NewWeighted(pendingBytes),
		checkpoints: map[string]uint64{}, notify: make(chan struct{})}
	if err := l.load(); err != nil {
		return nil, err
	}
	go l.commitLoop()
	return l, nil
}

func (l *Log) load() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("listing the log: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".seg"):
			first, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
			if err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return fmt.Errorf("reading the log: %w", err)
			}
			l.segs = append(l.segs, segment{first: first, path: filepath.Join(l.dir, name), size: fi.Size()})
		case strings.HasPrefix(name, "checkpoint.") && !strings.HasSuffix(name, ".tmp"):
			b, err := os.ReadFile(filepath.Join(l.dir, name))
			if err != nil {
				return fmt.Errorf("reading the log's %s: %w", name, err)
			}
			off, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return fmt.Errorf("the log's %s holds %q, not an offset", name, b)
			}
			l.checkpoints[strings.TrimPrefix(name, "checkpoint.")] = off
		}
	}
	sort.Slice(l.segs, func(i, j int) bool { return l.segs[i].first < l.segs[j].first })
	if len(l.segs) == 0 {
		if err := l.startSegment(1); err != nil {
			return err
		}
		return l.checkCheckpoints()
	}
	last := &l.segs[len(l.segs)-1]
	n, good, dmg, err := scan(last.path, l.opt.MaxRecord)
	if err != nil {
		return err
	}
	if dmg != nil {
		what := fmt.Sprintf("%s: the record at offset %d (byte %d) is unreadable and %d valid records follow it (from byte %d): "+
			"damage, not a torn tail; checkpoints %v", last.path, last.first+n, good, dmg.frames, dmg.at, l.checkpoints)
		if !l.opt.Repair {
			return fmt.Errorf("%w: %s; nothing was cut off%s", ErrCorrupt, what, repairHint)
		}
		aside := last.path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
		if err := copyFile(last.path, aside); err != nil {
			return fmt.Errorf("keeping the damaged segment aside: %w", err)
		}
		l.log.Error("LOG REPAIRED: the damaged segment is cut at its first bad record; the records after it are lost",
			"damage", what, "lost_records", dmg.frames, "kept_aside", aside)
	} else if good < last.size {
		l.log.Warn("the log's last segment ends in a torn record (a crash mid-write): cut off", "segment", last.path,
			"bytes", last.size-good)
	}
	if good < last.size {
		if err := os.Truncate(last.path, good); err != nil {
			return fmt.Errorf("cutting the torn tail of %s: %w", last.path, err)
		}
		last.size = good
	}
	l.next = last.first + n
	if err := l.checkCheckpoints(); err != nil {
		return err
	}
	for _, s := range l.segs {
		l.bytes += s.size
	}
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the log: %w", err)
	}
	l.f = f
	return nil
}

// damage is a bad frame with valid frames after it.
type damage struct {
	at     int64  // the byte of the first valid frame after the bad one
	frames uint64 // valid frames from there on
}

// checkCheckpoints refuses checkpoints outside the log: the records between them and its end were
// acknowledged and are gone, and records appended now would take offsets below them, unread.
// (Segments go only once every consumer is past them, and the last stays: a sound log holds
// every checkpoint.) Under Repair, such a checkpoint moves to the log's nearest end, loudly.
func (l *Log) checkCheckpoints() error {
	first := l.segs[0].first
	for _, c := range l.opt.Consumers {
		cp, ok := l.checkpoints[c]
		if !ok || cp >= first && cp <= l.next {
			continue
		}
		what := fmt.Sprintf("the checkpoint of %s is %d, and the log holds offsets %d to %d (%d segments in %s)",
			c, cp, first, l.next, len(l.segs), l.dir)
		if !l.opt.Repair {
			return fmt.Errorf("%w: %s: acknowledged records are missing (a segment deleted or damaged); records taken now would be skipped%s",
				ErrBehind, what, repairHint)
		}
		to, lost := l.next, "the records from the log's end up to the checkpoint, already read; any after it that were in the missing segments"
		if cp < first {
			to, lost = first, fmt.Sprintf("%d records below the log's first, never read", first-cp)
		}
		if err := durable.WriteFile(filepath.Join(l.dir, "checkpoint."+c), []byte(strconv.FormatUint(to, 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("moving the checkpoint of %s: %w", c, err)
		}
		l.checkpoints[c] = to
		l.log.Error("LOG REPAIRED: a checkpoint outside the log moved to its end", "checkpoint", what, "now", to, "lost", lost)
	}
	return nil
}

// copyFile copies src to dst (a new file), durably.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return durable.WriteFile(dst, b, 0o644)
}

// scan counts the whole frames of a segment and returns the size they take; dmg is set when
// the first bad frame is followed by a valid one (corruption, not a torn tail).
func scan(path string, maxRecord int) (n uint64, good int64, dmg *damage, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("opening the log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	for {
		data, err := readFrame(r, &buf)
		if err == io.EOF {
			return n, good, nil, nil
		}
		if err != nil {
			break
		}
		n++
		good += int64(frameHeader + len(data))
	}
	rest, err := io.ReadAll(io.NewSectionReader(f, good, 1<<62))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("reading the log: %w", err)
	}
	for q := 1; q+frameHeader <= len(rest); q++ {
		if k := validFrames(rest[q:], maxRecord); k > 0 {
			return n, good, &damage{at: good + int64(q), frames: k}, nil
		}
	}
	return n, good, nil, nil
}

// validFrames counts the valid frames at the start of b.
func validFrames(b []byte, maxRecord int) uint64 {
	k := uint64(0)
	for len(b) >= frameHeader {
		size := int(binary.LittleEndian.Uint32(b[:4]))
		if size == 0 || size > maxRecord || frameHeader+size > len(b) ||
			frameCRC(b[:4], b[frameHeader:frameHeader+size]) != binary.LittleEndian.Uint32(b[4:frameHeader]) {
			break
		}
		k++
		b = b[frameHeader+size:]
	}
	return k
}

var errCorrupt = errors.New("corrupt frame")

// readFrame reads one frame into *buf and returns its payload.
func readFrame(r *bufio.Reader, buf *[]byte) ([]byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:4])
	if size == 0 || size > 64<<20 {
		return nil, errCorrupt
	}
	if cap(*buf) < int(size) {
		*buf = make([]byte, size)
	}
	data := (*buf)[:size]
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	if frameCRC(hdr[:4], data) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, errCorrupt
	}
	return data, nil
}

// frameCRC is the checksum of a frame: of its length bytes, then its payload.
func frameCRC(length, data []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, data)
}

// startSegment creates the segment whose first record is first, and makes it the one appended to.
func (l *Log) startSegment(first uint64) error {
	path := filepath.Join(l.dir, fmt.Sprintf("%020d.seg", first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("creating a log segment: %w", err)
	}
	if err := durable.SyncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.next = f, first
	l.segs = append(l.segs, segment{first: first, path: path})
	return nil
}

// AppendAsync appends data; done is called, from the log's committer and in the order of the
// appends, once the record is durable (with its offset) or refused. A full queue of waiting
// appends blocks the caller. data must not change until done is called.
func (l *Log) AppendAsync(data []byte, done func(off uint64, err error)) {
	l.appendAsync([][]byte{data}, done)
}

func (l *Log) appendAsync(recs [][]byte, done func(first uint64, err error)) {
	size := int64(0)
	for _, data := range recs {
		if len(data) == 0 || len(data) > l.opt.MaxRecord {
			done(0, fmt.Errorf("a record of %d bytes: the log takes 1 to %d", len(data), l.opt.MaxRecord))
			return
		}
		size += int64(len(data)) + frameHeader
	}
	// Memory: what waits for a commit is bounded in bytes too (a queue of large messages would
	// otherwise hold gigabytes); the caller waits, which holds its publisher back.
	size = min(size, pendingBytes)
	_ = l.pending.Acquire(context.Background(), size)
	l.closeMu.RLock()
	if l.isClosed {
		l.closeMu.RUnlock()
		l.pending.Release(size)
		done(0, ErrClosed)
		return
	}
	l.reqs <- &request{recs: recs, done: done, size: size}
	l.closeMu.RUnlock()
}

// AppendBatch appends records together (one write, one fsync: all or none) and returns the
// offset of the first once they are durable.
func (l *Log) AppendBatch(recs [][]byte) (uint64, error) {
	type result struct {
		off uint64
		err error
	}
	ch := make(chan result, 1)
	l.appendAsync(recs, func(off uint64, err error) { ch <- result{off, err} })
	r := <-ch
	return r.off, r.err
}

// Append appends data and returns its offset once it is durable.
func (l *Log) Append(data []byte) (uint64, error) { return l.AppendBatch([][]byte{data}) }

func (l *Log) commitLoop() {
	defer close(l.stopped)
	batch := make([]*request, 0, groupMax)
	var buf []byte
	for first := range l.reqs {
		batch = append(batch[:0], first)
	take:
		for len(batch) < groupMax {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break take
				}
				batch = append(batch, r)
			default:
				break take
			}
		}
		buf = l.commit(batch, buf[:0])
		for _, r := range batch {
			l.pending.Release(r.size)
		}
		if cap(buf) > 4<<20 {
			buf = nil // a burst of large messages does not keep its buffer
		}
	}
}

// commit writes a group with one write and one fsync, then answers each of its appends.
func (l *Log) commit(batch []*request, buf []byte) []byte {
	n := 0
	for _, r := range batch {
		for _, data := range r.recs {
			var hdr [frameHeader]byte
			binary.LittleEndian.PutUint32(hdr[:4], uint32(len(data)))
			binary.LittleEndian.PutUint32(hdr[4:], frameCRC(hdr[:4], data))
			buf = append(append(buf, hdr[:]...), data...)
			n++
		}
	}
	first, err := l.write(buf, n)
	if err != nil {
		l.refused.Add(int64(n))
		for _, r := range batch {
			r.done(0, err)
		}
		return buf
	}
	l.appended.Add(int64(n))
	l.written.Add(int64(len(buf)))
	off := first
	for _, r := range batch {
		r.done(off, nil)
		off += uint64(len(r.recs))
	}
	return buf
}

// write appends buf (n frames) to the last segment and fsyncs it; a write that fails is cut off
// again, so the segment holds whole frames only.
func (l *Log) write(buf []byte, n int) (uint64, error) {
	l.mu.Lock()
	if l.broken != nil {
		err := l.broken
		l.mu.Unlock()
		return 0, err
	}
	if l.opt.MaxBytes > 0 && l.bytes+int64(len(buf)) > l.opt.MaxBytes {
		l.setFullLocked(true, nil)
		l.fullNeed, l.fullDisk = firstFrame(buf), false
		onDisk := l.bytes
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: %d bytes on disk, --max-log-bytes %d", ErrFull, onDisk, l.opt.MaxBytes)
	}
	seg := &l.segs[len(l.segs)-1]
	if seg.size > 0 && seg.size+int64(len(buf)) > l.opt.SegmentBytes {
		if err := l.f.Sync(); err != nil {
			l.mu.Unlock()
			return 0, fmt.Errorf("syncing the log: %w", err)
		}
		if err := l.startSegment(l.next); err != nil {
			l.mu.Unlock()
			return 0, l.refuse(err, firstFrame(buf))
		}
		seg = &l.segs[len(l.segs)-1]
	}
	f, size, first := l.f, seg.size, l.next
	l.mu.Unlock()
	// The write and the fsync run outside the lock: readers and checkpoints go on meanwhile (only
	// the committer writes).
	start := time.Now()
	_, err := f.Write(buf)
	if err == nil {
		err = l.opt.sync(f)
	}
	took := time.Since(start)
	l.syncs.Add(1)
	l.syncNanos.Add(int64(took))
	i := sort.Search(len(SyncBounds), func(i int) bool { return took <= SyncBounds[i] })
	l.syncHist[i].Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if terr := f.Truncate(size); terr != nil {
			// The segment may end in a torn frame: Open cuts it off, and would cut off whatever
			// came after it too, so the log takes nothing more until it is opened again.
			l.broken = fmt.Errorf("%w: a failed write could not be cut off (%v): restart to recover", ErrFull, terr)
			l.log.Error("LOG STOPPED: a failed write could not be cut off; restart iotwatch to recover", "err", terr)
		}
		return 0, l.refuse(fmt.Errorf("appending to the log: %w", err), firstFrame(buf))
	}
	seg.size += int64(len(buf))
	l.bytes += int64(len(buf))
	l.next += uint64(n)
	l.setFullLocked(false, nil)
	close(l.notify)
	l.notify = make(chan struct{})
	return first, nil
}

// refuse turns a write error into ErrFull (the caller is told not to acknowledge; a full disk is
// the usual cause) and notes it, with need the bytes of the refused commit's first frame; l.mu
// is held.
func (l *Log) refuse(err error, need int64) error {
	l.setFullLocked(true, err)
	l.fullNeed, l.fullDisk, l.freed = need, true, 0
	return fmt.Errorf("%w: %w", ErrFull, err)
}

// firstFrame is the size of the first frame in a commit's buffer.
func firstFrame(buf []byte) int64 {
	if len(buf) < frameHeader {
		return int64(len(buf))
	}
	return frameHeader + int64(binary.LittleEndian.Uint32(buf[:4]))
}

// roomAgainLocked clears the full state once deleted segments have made room for the frame that
// was refused: below MaxBytes by that much, or, after a full disk, that many bytes freed. Without
// it the state (healthz, log_full) would wait for the next accepted message, which a publisher
// told "not kept" may never send. l.mu is held.
func (l *Log) roomAgainLocked(freed int64) {
	if !l.full || freed == 0 || l.broken != nil {
		return
	}
	l.freed += freed
	if l.fullDisk && l.freed >= l.fullNeed || !l.fullDisk && l.bytes+l.fullNeed <= l.opt.MaxBytes {
		l.setFullLocked(false, nil)
	}
}

func (l *Log) setFullLocked(full bool, err error) {
	if full == l.full {
		return
	}
	l.full = full
	if full {
		l.log.Error("LOG FULL: not acknowledging messages until there is room (publishers retry)", "bytes", l.bytes,
			"max_bytes", l.opt.MaxBytes, "err", err)
	} else {
		l.log.Warn("the log has room again: acknowledging messages")
	}
}

// Next is the offset the next record gets: every record below it is durable.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Checkpointed is the checkpoint of a consumer: the offset it reads from after a restart (the
// log's first offset when it has none).
func (l *Log) Checkpointed(name string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off, ok := l.checkpoints[name]; ok {
		return off
	}
	return l.segs[0].first
}

// Checkpoint records, durably, that a consumer is done with every record below off, and deletes
// the segments every consumer is past.
func (l *Log) Checkpoint(name string, off uint64) error {
	l.mu.Lock()
	if cur, ok := l.checkpoints[name]; ok && cur == off {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	path := filepath.Join(l.dir, "checkpoint."+name)
	if err := durable.WriteFile(path, []byte(strconv.FormatUint(off, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the checkpoint of %s: %w", name, err)
	}
	l.mu.Lock()
	l.checkpoints[name] = off
	doomed := l.doomedLocked()
	l.mu.Unlock()
	freed := int64(0)
	for _, s := range doomed {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deleting a consumed log segment: %w", err)
		}
		freed += s.size
	}
	if freed > 0 { // after the removals: a full disk has the room only now
		l.mu.Lock()
		l.roomAgainLocked(freed)
		l.mu.Unlock()
	}
	return nil
}

// doomedLocked takes the segments every consumer is past out of the list (never the last).
func (l *Log) doomedLocked() []segment {
	low := uint64(0)
	for i, c := range l.opt.Consumers {
		off, ok := l.checkpoints[c]
		if !ok {
			return nil
		}
		if i == 0 || off < low {
			low = off
		}
	}
	if len(l.opt.Consumers) == 0 {
		return nil
	}
	k := 0
	for k+1 < len(l.segs) && l.segs[k+1].first <= low {
		k++
	}
	doomed := append([]segment(nil), l.segs[:k]...)
	for _, s := range doomed {
		l.bytes -= s.size
	}
	l.segs = l.segs[k:]
	return doomed
}

// Close stops taking appends, commits those waiting, and wakes the readers (which then read
// what is left and end with ErrClosed).
func (l *Log) Close() error {
	l.closing.Do(func() {
		l.closeMu.Lock()
		l.isClosed = true
		close(l.reqs)
		l.closeMu.Unlock()
		<-l.stopped
		l.mu.Lock()
		l.done = true
		close(l.notify)
		l.notify = make(chan struct{})
		l.mu.Unlock()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// SyncBounds are the upper bounds of the commit-latency histogram (Stats.SyncHist).
var SyncBounds = [...]time.Duration{250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, time.Second}

// Stats is what the log did, for metrics.
type Stats struct {
	Appended, Refused int64 // records
	Written           int64 // bytes appended, frames included
	Syncs             int64
	SyncTime          time.Duration // the writes and fsyncs of every commit
	SyncHist          []int64       // commits by duration: SyncHist[i] took at most SyncBounds[i] (and more than the bound before); the last, longer
	Bytes             int64         // on disk now
	Segments          int
	Full              bool
	Broken            bool // a failed write could not be cut off: nothing is taken until a restart
	Next              uint64
	Checkpoints       map[string]uint64
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	cps := make(map[string]uint64, len(l.checkpoints))
	for k, v := range l.checkpoints {
		cps[k] = v
	}
	hist := make([]int64, len(l.syncHist))
	for i := range l.syncHist {
		hist[i] = l.syncHist[i].Load()
	}
	return Stats{SyncHist: hist, Appended: l.appended.Load(), Refused: l.refused.Load(), Written: l.written.Load(), Syncs: l.syncs.Load(),
		SyncTime: time.Duration(l.syncNanos.Load()), Bytes: l.bytes, Segments: len(l.segs), Full: l.full, Broken: l.broken != nil, Next: l.next,
		Checkpoints: cps}
}

// Reader reads the log in order from an offset, waiting for records not yet appended.
type Reader struct {
	l   *Log
	pos uint64 // the offset of the next record to return
	f   *os.File
	r   *bufio.Reader
	sr  *segmentReader
	cur uint64 // the first offset of the open segment
	end uint64 // the first offset of the segment after the open one (0: it was the last)
	buf []byte
}

// Reader returns a reader of the records from offset from on (from the log's first record when
// from is below it).
func (l *Log) Reader(from uint64) *Reader {
	return &Reader{l: l, pos: from}
}

// Record is one record read.
type Record struct {
	Offset uint64
	Data   []byte // valid until the next call of Next
}

// Next returns the next record, waiting while there is none; ctx ends the wait (its error), as
// does Close once every record was read (ErrClosed).
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		r.l.mu.Lock()
		next, done, notify := r.l.next, r.l.done, r.l.notify
		if r.f != nil && r.end == 0 {
			// The open segment was the last: a roll since then bounds it.
			for _, s := range r.l.segs {
				if s.first > r.cur {
					r.end = s.first
					break
				}
			}
		}
		r.l.mu.Unlock()
		if r.pos < next {
			break
		}
		if done {
			return Record{}, ErrClosed
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
	if r.f == nil || (r.end != 0 && r.pos >= r.end) {
		if err := r.open(); err != nil {
			return Record{}, err
		}
	}
	data, err := readFrame(r.r, &r.buf)
	if err != nil {
		return Record{}, fmt.Errorf("reading the log at offset %d: %w", r.pos, err)
	}
	rec := Record{Offset: r.pos, Data: data}
	r.pos++
	return rec, nil
}

// open opens the segment holding r.pos and skips to it.
func (r *Reader) open() error {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.l.mu.Lock()
	segs := append([]segment(nil), r.l.segs...)
	r.l.mu.Unlock()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first > r.pos }) - 1
	if i < 0 {
		i, r.pos = 0, segs[0].first // deleted below: read from the first kept
	}
	f, err := os.Open(segs[i].path)
	if err != nil {
		return fmt.Errorf("opening a log segment: %w", err)
	}
	r.sr = &segmentReader{l: r.l, f: f, first: segs[i].first}
	r.f, r.r, r.cur, r.end = f, bufio.NewReaderSize(r.sr, 256<<10), segs[i].first, 0
	if i+1 < len(segs) {
		r.end = segs[i+1].first
	}
	for off := segs[i].first; off < r.pos; off++ {
		var hdr [frameHeader]byte
		if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
			return fmt.Errorf("skipping to offset %d in %s: %w", r.pos, segs[i].path, err)
		}
		if _, err := r.r.Discard(int(binary.LittleEndian.Uint32(hdr[:4]))); err != nil {
			return fmt.Errorf("skipping to offset %d in %s: %w", r.pos, segs[i].path, err)
		}
	}
	return nil
}

// segmentReader reads a segment up to its committed size only: bytes the committer has written
// and not yet fsynced may be cut off again (a failed fsync, a full disk), and other records then
// take their offsets.
type segmentReader struct {
	l          *Log
	f          *os.File
	first      uint64
	off, limit int64
}

func (s *segmentReader) Read(p []byte) (int, error) {
	if s.off >= s.limit {
		s.limit = s.l.committedSize(s.first)
		if s.off >= s.limit {
			return 0, io.EOF
		}
	}
	n, err := s.f.ReadAt(p[:min(int64(len(p)), s.limit-s.off)], s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// committedSize is the size of the segment starting at first that holds committed records only.
func (l *Log) committedSize(first uint64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.first == first {
			return s.size
		}
	}
	return 1 << 62 // deleted: sealed long ago, read to its end
}

// Close releases the reader's file.
func (r *Reader) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
