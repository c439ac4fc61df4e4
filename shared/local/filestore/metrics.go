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

// reloadMetricsAndRules reads the catalog and the rules file again when either changed (s.mem.Mu
// held): the two are checked together, as one edit (removing a metric and its rules in the same
// edit is taken), and a bad edit of either is refused whole (logged), the catalog and the rules in
// force kept until either file changes again.
func (s *Store) reloadMetricsAndRules() {
	changed := func(path string, at time.Time) (time.Time, bool) {
		fi, err := os.Stat(path)
		if err != nil {
			s.log.Error("file unreadable: keeping the catalog and the rules in force", "file", path, "err", err)
			return at, false
		}
		return fi.ModTime(), !fi.ModTime().Equal(at)
	}
	var metricsMod, rulesMod time.Time
	var metricsChanged, rulesChanged bool
	if s.metrics != nil {
		metricsMod, metricsChanged = changed(s.metrics.path, s.metrics.modTime)
	}
	if s.rules != nil {
		rulesMod, rulesChanged = changed(s.rules.path, s.rules.modTime)
	}
	if !metricsChanged && !rulesChanged {
		return
	}
	keepCat, keepRows := s.mem.Metrics, s.mem.Rows
	err := func() error {
		if s.metrics != nil {
			cat, _, err := readFile(s.metrics.path, reading.ParseCatalog)
			if err != nil {
				return err
			}
			s.mem.Metrics = cat
		}
		if s.rules != nil {
			return s.readRules() // with the new catalog
		}
		return rulesKnow(s.mem.Rows, s.mem.Metrics)
	}()
	if err != nil {
		s.mem.Metrics, s.mem.Rows = keepCat, keepRows
		if s.metrics == nil {
			s.log.Error("rules file changed but is invalid: keeping the rules in force", "err", err)
		} else {
			s.log.Error("metrics catalog or rules file changed but invalid together: keeping the catalog and the rules in force", "err", err)
		}
	} else if s.metrics != nil {
		s.log.Info(fmt.Sprintf("metrics catalog reloaded: %d declared", s.mem.Metrics.Len()), "file", s.metrics.path)
	}
	if s.metrics != nil {
		s.metrics.modTime = metricsMod
	}
	if s.rules != nil {
		s.rules.modTime = rulesMod
	}
}

// Catalog implements evaluator.Store.
func (s *Store) Catalog(ctx context.Context) (*reading.Catalog, error) { return s.mem.Catalog(ctx) }
