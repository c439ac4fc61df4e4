package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
)

// MetricsFile is a metrics catalog file as `iotwatch metrics put|list|delete` change it, with
// the same methods as the DynamoDB store's; `iotwatch run --metrics` follows the file and
// reloads it. Each change reads the whole file (it must be valid), changes it and replaces it
// durably.
type MetricsFile struct {
	Path string
	// Rules, when set, is the rules file whose rules a delete must not leave naming a metric the
	// catalog no longer declares (a run would refuse that catalog).
	Rules string
}

// read returns the file's metrics; a file that does not exist declares none.
func (f MetricsFile) read() ([]reading.Declared, error) {
	cat, _, err := readFile(f.Path, reading.ParseCatalog)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the metrics file (fix it first, nothing changed):\n%w", err)
	}
	return cat.Declared(), nil
}

// ListMetrics returns the file's metrics, by name.
func (f MetricsFile) ListMetrics(context.Context) ([]reading.Declared, error) {
	ds, err := f.read()
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	return ds, err
}

// PutMetrics replaces the metrics of the same name in place and appends the new ones; a catalog
// that would be invalid (more than reading.MaxDeclared) refuses the whole put.
func (f MetricsFile) PutMetrics(_ context.Context, ds []reading.Declared) error {
	held, err := f.read()
	if err != nil {
		return err
	}
	held = reading.UpsertDeclared(held, ds)
	if _, err := reading.NewCatalog(held); err != nil {
		return fmt.Errorf("the metrics file would be invalid, nothing written:\n%w", err)
	}
	return f.write(held)
}

// DeleteMetrics removes metrics; a name the file does not declare, or one a rule of f.Rules
// names, refuses the whole call.
func (f MetricsFile) DeleteMetrics(_ context.Context, names []string) error {
	held, err := f.read()
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, n := range names {
		gone[n] = true
	}
	var problems []string
	kept := held[:0:0]
	for _, d := range held {
		if gone[d.Name] {
			delete(gone, d.Name)
			continue
		}
		kept = append(kept, d)
	}
	for _, n := range names {
		if gone[n] {
			problems = append(problems, fmt.Sprintf("%q is not declared in %s", n, f.Path))
			delete(gone, n)
		}
	}
	if f.Rules != "" {
		rows, err := RulesFile{Path: f.Rules}.read()
		if err != nil {
			return err
		}
		for _, r := range rows {
			for _, n := range names {
				if r.Metric == n {
					problems = append(problems, fmt.Sprintf("the rule of %s names %s", rule.DescribeKey(r.Key()), n))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("nothing deleted: %s", strings.Join(problems, "; "))
	}
	return f.write(kept)
}

func (f MetricsFile) write(ds []reading.Declared) error {
	var b bytes.Buffer
	if err := reading.WriteCatalog(&b, ds); err != nil {
		return err
	}
	return replaceFile(f.Path, b.Bytes())
}
