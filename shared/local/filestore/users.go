package filestore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Users is people's preferences from a users CSV (user_id,timezone,quiet_hours,quiet_min_severity,units),
// read again when the file changes; a changed file that does not validate is refused whole and
// the preferences in force stay.
type Users struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	users   map[string]user.User
	modTime time.Time
}

var _ evaluator.Users = (*Users)(nil)

// OpenUsers reads the users file (a bad file is an error).
func OpenUsers(path string, log *slog.Logger) (*Users, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &Users{path: path, log: log}
	if err := u.read(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Users) read() error {
	f, err := os.Open(u.path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", u.path, err)
	}
	list, err := user.ParseCSV(f, u.path)
	if err != nil {
		return err
	}
	byID := make(map[string]user.User, len(list))
	for _, x := range list {
		byID[x.ID] = x
	}
	u.users, u.modTime = byID, fi.ModTime()
	return nil
}

// Reload reads the file again if it changed.
func (u *Users) Reload() {
	fi, err := os.Stat(u.path)
	if err != nil {
		u.log.Error("users file unreadable: keeping the preferences in force", "err", err)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if fi.ModTime().Equal(u.modTime) {
		return
	}
	if err := u.read(); err != nil {
		u.modTime = fi.ModTime()
		u.log.Error("users file changed but is invalid: keeping the preferences in force", "err", err)
		return
	}
	u.log.Info("users reloaded", "file", u.path)
}

// LoadUsers implements evaluator.Users.
func (u *Users) LoadUsers(_ context.Context, ids []string) (map[string]user.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]user.User{}
	for _, id := range ids {
		if x, ok := u.users[id]; ok {
			out[id] = x
		}
	}
	return out, nil
}
