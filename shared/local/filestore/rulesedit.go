package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/local/durable"
)

// RulesFile is a long rules file as `iotwatch rules put|list|delete` change it, with the same
// methods as the DynamoDB store's; `iotwatch run --rules` follows the file and reloads it. Each
// change reads the whole file (it must be valid), changes its rows and replaces it durably:
// a run reads the old file or the new, never a part.
type RulesFile struct {
	Path string
	// Metrics is the metrics catalog the rules put may name (nil: the built-ins only), the one
	// iotwatch run --metrics follows.
	Metrics *reading.Catalog
}

// read returns the file's rows; a file that does not exist holds none. Its rows may name any
// well-formed metric: they were checked against the catalog when put (a run refuses a file whose
// rules name a metric its catalog does not declare).
func (f RulesFile) read() ([]rule.Row, error) {
	rows, _, err := readFile(f.Path, func(r io.Reader, name string) ([]rule.Row, error) {
		return rule.ParseCSV(r, name, rule.WellFormed{})
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the rules file (fix it first, nothing changed):\n%w", err)
	}
	return rows, nil
}

// ListRules returns the file's rows (of scope sc when not nil), in the file's order.
func (f RulesFile) ListRules(_ context.Context, sc *rule.Scope) ([]rule.Row, error) {
	rows, err := f.read()
	if err != nil || sc == nil {
		return rows, err
	}
	var out []rule.Row
	for _, r := range rows {
		if r.Scope == *sc {
			out = append(out, r)
		}
	}
	return out, nil
}

// PutRules replaces the rows of the same (user, scope, metric, rule) in place and appends the
// new ones; rows that would take a user or a scope past the limits refuse the whole put.
func (f RulesFile) PutRules(_ context.Context, rows []rule.Row) error {
	var unknown []error
	for i, r := range rows {
		if r.Kind != rule.Silent && !f.Metrics.Known(r.Metric) {
			unknown = append(unknown, fmt.Errorf("row %d: metric: %q is neither a built-in metric nor one the catalog declares (--metrics FILE)", i+1, r.Metric))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("nothing written:\n%w", errors.Join(unknown...))
	}
	held, err := f.read()
	if err != nil {
		return err
	}
	held, put := rule.Upsert(held, rows)
	if err := rule.Check(held, func(i int) string {
		if j, ok := put[held[i].Key()]; ok {
			return fmt.Sprintf("row %d", j+1)
		}
		return fmt.Sprintf("%s:%d", f.Path, i+2)
	}); err != nil {
		return fmt.Errorf("the rules file would break the limits, nothing written:\n%w", err)
	}
	return f.write(held)
}

// DeleteRules removes the rows of keys; a key with no row refuses the whole call.
func (f RulesFile) DeleteRules(_ context.Context, keys []rule.Key) error {
	held, err := f.read()
	if err != nil {
		return err
	}
	gone := make(map[rule.Key]bool, len(keys))
	for _, k := range keys {
		gone[k] = true
	}
	kept := held[:0:0]
	for _, r := range held {
		if gone[r.Key()] {
			delete(gone, r.Key())
			continue
		}
		kept = append(kept, r)
	}
	if len(gone) > 0 {
		var missing []string
		for _, k := range keys {
			if gone[k] {
				missing = append(missing, rule.DescribeKey(k))
			}
		}
		return fmt.Errorf("no such rule in %s, nothing deleted: %s", f.Path, strings.Join(missing, "; "))
	}
	return f.write(kept)
}

func (f RulesFile) write(rows []rule.Row) error {
	var b bytes.Buffer
	if err := rule.WriteCSV(&b, rows); err != nil {
		return err
	}
	return replaceFile(f.Path, b.Bytes())
}

// replaceFile replaces the file at path with body durably (a run reads the old file or the new,
// never a part), keeping its permissions (0644 for a new file).
func replaceFile(path string, body []byte) error {
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := durable.WriteFile(path, body, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
