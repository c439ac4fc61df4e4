package filestore

import (
	"fmt"
	"io"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/rule"
)

// rulesFile is the long rules file the store follows, when one is given.
type rulesFile struct {
	path    string
	modTime time.Time
}

// UseRules reads the long rules file at path (refused whole when bad: the error names every
// line and field) and follows it from then on as Reload follows the thresholds file. Its rows
// join the thresholds file's; for a device, the most specific row wins.
func (s *Store) UseRules(path string) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.rules = &rulesFile{path: path}
	return s.readRules()
}

// readRules reads the rules file (s.mem.Mu held), each row keeping its version while unchanged,
// the next one when changed, 1 when new (they count from 1 again when the run restarts).
func (s *Store) readRules() error {
	rows, mod, err := readFile(s.rules.path, func(r io.Reader, name string) ([]rule.Row, error) {
		return rule.ParseCSV(r, name, s.mem.Metrics)
	})
	if err != nil {
		return err
	}
	users := map[string]bool{}
	for _, r := range rows {
		users[r.UserID] = true
	}
	s.mem.Rows, s.rules.modTime = rule.Versioned(s.mem.Rows, rows), mod
	s.log.Info(fmt.Sprintf("rules reloaded: %d rows, %d users", len(rows), len(users)), "file", s.rules.path)
	return nil
}
