// Package lakelock keeps two processes from running the pipeline on one lake: the second would
// overwrite the first's alarm state (its open episodes would never resolve). It holds an
// advisory lock (flock) on a file in the lake for as long as the run lasts; the kernel releases
// it when the process dies, so a crash never leaves the lake locked.
package lakelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file in the lake directory.
const FileName = ".iotwatch.lock"

// ErrInUse is returned (wrapped) when another process holds the lake.
var ErrInUse = errors.New("the lake is in use by another iotwatch process")

// Lock is a held lock.
type Lock struct{ f *os.File }

// Acquire locks the lake at dir (created if missing), or fails at once with ErrInUse naming the
// process that holds it.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the lake directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lake's lock file: %w", err)
	}
	if err := lock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%s (process %s): %w; stop it, or give this run another --lake", dir, strings.TrimSpace(string(holder)), ErrInUse)
		}
		return nil, fmt.Errorf("locking the lake %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // for the message of the next one
	}
	return &Lock{f: f}, nil
}

// Release unlocks the lake.
func (l *Lock) Release() error {
	if err := unlock(l.f); err != nil {
		l.f.Close()
		return fmt.Errorf("unlocking the lake: %w", err)
	}
	return l.f.Close()
}
