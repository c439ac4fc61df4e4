package runner

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/lakelock"
)

// The bounds of a run's settings (Check).
const (
	// MaxShards bounds --shards: each shard holds its queue (2 × --batch-size records) and a
	// goroutine (10^8 shards reached 7 GB in issue 26, 21 GB here); two cores gain nothing past
	// a few.
	MaxShards = 64
	// MaxBatchSize is Lambda's largest batch from Kinesis (BatchSize of an event source mapping).
	MaxBatchSize = 10000
	// MaxBatchWindow is Lambda's largest batching window (MaximumBatchingWindowInSeconds, 300).
	MaxBatchWindow = 5 * time.Minute
	// MinAggregateEvery and MaxAggregateEvery bound --aggregate-every (0: only when the run
	// stops): each round reads the hours that received readings, so a shorter one costs DuckDB
	// scans for little, and a day is the longest the pending hours wait.
	MinAggregateEvery = time.Minute
	MaxAggregateEvery = 24 * time.Hour
	// MinInterval and MaxInterval bound --interval, as the aggregation does (expected_readings =
	// 1 h / interval, at least 1).
	MinInterval = time.Second
	MaxInterval = time.Hour
	// MinLogBytes is the smallest --max-log-bytes (0: the disk): two of the largest message the
	// broker takes, framed (broker.MaxPacketSize + 8 bytes each). Once the consumers are past
	// everything, the log keeps its last segment, which holds at most one such message (or an
	// eighth of the cap): there is then always room for the next one. Below it, a large message
	// can be refused forever (--max-log-bytes 100 refused every message).
	MinLogBytes = 2 * (broker.MaxPacketSize + 8)
)

// ErrOutOfRange is returned (wrapped) by Check for a setting outside its bounds.
var ErrOutOfRange = errors.New("out of range")

// Check refuses a configuration a run cannot work with, naming the flag, its value and what it
// takes; it reads and writes nothing on disk. Zero means the default where Config says so. Run
// calls it first; the CLI calls it before it opens anything.
func (c Config) Check() error {
	var errs []error
	checkInt := func(flag string, v, lo, hi int64, zero string) {
		if v == 0 && zero != "" || v >= lo && v <= hi {
			return
		}
		errs = append(errs, rangeError(flag, fmt.Sprint(v), fmt.Sprint(lo), fmt.Sprint(hi), zero))
	}
	checkDuration := func(flag string, v, lo, hi time.Duration, zero string) {
		if v == 0 && zero != "" || v >= lo && v <= hi {
			return
		}
		errs = append(errs, rangeError(flag, v.String(), lo.String(), hi.String(), zero))
	}
	checkInt("--shards", int64(c.Stream.Shards), 1, MaxShards, "the default")
	checkInt("--batch-size", int64(c.Stream.BatchSize), 1, MaxBatchSize, "the default")
	checkDuration("--batch-window", c.Stream.BatchWindow, time.Millisecond, MaxBatchWindow, "the default")
	checkDuration("--aggregate-every", c.AggregateEvery, MinAggregateEvery, MaxAggregateEvery, "only when the run stops")
	checkDuration("--interval", c.Interval, MinInterval, MaxInterval, "the default")
	checkDuration("--notify-drain", c.NotifyDrain, time.Millisecond, time.Hour, "the default, "+DefaultNotifyDrain.String())
	if c.Notify.PagerDutyURL != "" {
		// every routing key goes there: https, or http on loopback only, as the channels' targets
		if err := channel.ValidURL(c.Notify.PagerDutyURL); err != nil {
			errs = append(errs, fmt.Errorf("--pagerduty-url: %w", err))
		}
	}
	if c.MaxLogBytes != 0 && c.MaxLogBytes < MinLogBytes {
		errs = append(errs, fmt.Errorf("--max-log-bytes %d: %w: want 0 (the disk is the cap) or at least %d (two of the largest message the broker takes: "+
			"below it a large message can be refused for good)", c.MaxLogBytes, ErrOutOfRange, MinLogBytes))
	}
	switch c.Clock {
	case "", ClockWall, ClockWatermark:
	default:
		errs = append(errs, fmt.Errorf("--clock %q: want %s or %s", c.Clock, ClockWall, ClockWatermark))
	}
	if mqtt := cmp.Or(c.MQTT, broker.DefaultAddr); c.TLS == nil && !broker.Loopback(mqtt) {
		errs = append(errs, fmt.Errorf("--mqtt %s: %w: give --tls-cert, --tls-key and --client-ca (iotwatch ca init issues them), or listen on 127.0.0.1", mqtt, broker.ErrInsecure))
	}
	if c.HTTP != "" {
		if c.HTTPTLS == nil && !broker.Loopback(c.HTTP) {
			errs = append(errs, fmt.Errorf("--http %s: %w: give --tls-cert and --tls-key, or listen on 127.0.0.1", c.HTTP, ErrInsecureHTTP))
		}
		if host, _, err := net.SplitHostPort(c.HTTP); err == nil && c.LinkBase == "" && (host == "" || net.ParseIP(host).IsUnspecified()) {
			errs = append(errs, fmt.Errorf("--http %s listens on every address: give --link-base, the URL people reach it at", c.HTTP))
		}
	}
	if c.LinkBase != "" {
		if u, err := url.Parse(c.LinkBase); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--link-base %q: want http(s)://host[:port][/path]", c.LinkBase))
		}
	}
	return errors.Join(errs...)
}

// rangeError says that flag's value is outside lo to hi (or 0, meaning zero, when zero is set).
func rangeError(flag, v, lo, hi, zero string) error {
	if zero != "" {
		return fmt.Errorf("%s %s: %w: want %s to %s (or 0: %s)", flag, v, ErrOutOfRange, lo, hi, zero)
	}
	return fmt.Errorf("%s %s: %w: want %s to %s", flag, v, ErrOutOfRange, lo, hi)
}

// created is what a start made in the lake that did not exist before it, so that a start refused
// after taking the lock leaves the lake as it found it.
type created struct {
	lake    string
	newLake bool     // the lake directory itself
	made    []string // its lock file (of a new lake), state/ and log/
}

// absent notes the lake (and then its lock file) if it does not exist: call it before taking the
// lock (which makes them), then inside before opening what the lock guards.
func absent(lake string) created {
	c := created{lake: lake}
	if _, err := os.Lstat(lake); errors.Is(err, os.ErrNotExist) {
		// The lock file goes only with a new lake: in a lake kept, a run opening the file as it is
		// removed could hold a lock on a file the next run no longer sees.
		c.newLake = true
		c.note(lakelock.FileName)
	}
	return c
}

// inside notes state/ and log/ if they do not exist: under the lock, so that no other run can
// make them between this look and the undo.
func (c *created) inside(names ...string) {
	for _, name := range names {
		c.note(name)
	}
}

func (c *created) note(name string) {
	p := filepath.Join(c.lake, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		c.made = append(c.made, p)
	}
}

// undo removes them: state/ and log/ whole (this start made them and holds the lock, so nothing
// else wrote there), a new lake's lock file, then a new lake's directory if it is empty.
func (c created) undo() {
	for _, p := range c.made {
		_ = os.RemoveAll(p)
	}
	if c.newLake {
		_ = os.Remove(c.lake) // fails, and keeps it, if anything else is in it
	}
}
