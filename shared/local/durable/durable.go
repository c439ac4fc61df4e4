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
