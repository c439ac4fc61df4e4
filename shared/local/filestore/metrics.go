package filestore

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
)

// metricsFile is the metrics catalog the store follows, when one is given.
type metricsFile struct {
	path    string
	modTime time.Time
}

// UseMetrics reads the metrics catalog at path (refused whole when bad: the error names every
// line and field) and follows it from then on as Reload follows the thresholds file. Call it
// before UseRules: rules may name the metrics it declares.
func (s *Store) UseMetrics(path string) error {
	s.mem.Mu.Lock()
	defer s.mem.Mu.Unlock()
	s.metrics = &metricsFile{path: path}
	return s.readMetrics()
}

// readMetrics reads the catalog (s.mem.Mu held). A catalog that no longer declares a metric
// that rules in force name is refused: delete or change those rules first.
func (s *Store) readMetrics() error {
	cat, mod, err := readFile(s.metrics.path, reading.ParseCatalog)
	if err != nil {
		return err
	}
	if err := rulesKnow(s.mem.Rows, cat); err != nil {
		return fmt.Errorf("%s: %w", s.metrics.path, err)
	}
	s.mem.Metrics, s.metrics.modTime = cat, mod
	s.log.Info(fmt.Sprintf("metrics catalog reloaded: %d declared", cat.Len()), "file", s.metrics.path)
	return nil
}

// rulesKnow refuses a catalog that leaves rows naming a metric it does not know.
func rulesKnow(rows []rule.Row, cat *reading.Catalog) error {
	for _, r := range rows {
		if r.Kind != rule.Silent && !cat.Known(r.Metric) {
			return fmt.Errorf("metric %q is not declared, and the rule of %s names it: delete or change the rule first", r.Metric, rule.DescribeKey(r.Key()))
		}
	}
	return nil
}

// reloadMetrics reads the catalog again if it changed (s.mem.Mu held); a bad edit is refused
// whole (logged), and the catalog in force stays.
func (s *Store) reloadMetrics() {
	if s.metrics == nil {
		return
	}
	fi, err := os.Stat(s.metrics.path)
	if err != nil {
		s.log.Error("metrics catalog unreadable: keeping the catalog in force", "err", err)
		return
	}
	if fi.ModTime().Equal(s.metrics.modTime) {
		return
	}
	if err := s.readMetrics(); err != nil {
		s.metrics.modTime = fi.ModTime()
		s.log.Error("metrics catalog changed but is invalid: keeping the catalog in force", "err", err)
	}
}

// Catalog implements evaluator.Store.
func (s *Store) Catalog(ctx context.Context) (*reading.Catalog, error) { return s.mem.Catalog(ctx) }
