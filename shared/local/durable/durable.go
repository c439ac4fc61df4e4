// Package durable writes files that survive a crash and a power cut whole: a temporary file
// beside the target, fsynced, renamed over it, and the directory fsynced. A reader, or a restart,
// sees the old content or the new, never a part, and a failed write leaves no temporary file.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data durably. The temporary file is name.tmp, hidden (a leading
// dot) when hide is set, so that readers listing the directory skip it.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, path+".tmp", data, perm)
}

// WriteHidden is WriteFile with a temporary file whose name starts with a dot (lake readers
// skip such files).
func WriteHidden(path string, data []byte, perm os.FileMode) error {
	return write(path, filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"), data, perm)
}

func write(path, tmp string, data []byte, perm os.FileMode) (err error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory: the names created or renamed in it survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and its missing parents, fsyncing the parent of each it creates, so that
// the new names survive a power cut (a file fsynced in a directory whose own name was lost is
// lost with it).
func MkdirAll(dir string, perm os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return nil // made meanwhile
		}
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return SyncDir(parent)
}
