// Package emf writes CloudWatch metrics in the Embedded Metric Format: one JSON line per set of
// dimensions, written to standard output in Lambda, from which CloudWatch Logs extracts the metrics
// without any API call.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// Namespace is the CloudWatch namespace of the pipeline's metrics.
const Namespace = "iotwatch"

// Unit is a CloudWatch unit.
type Unit string

// Units used here.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
	Bytes        Unit = "Bytes"
)

type metric struct {
	name  string
	unit  Unit
	value float64
}

// Set is metrics sharing one set of dimension values.
type Set struct {
	dims    map[string]string
	metrics []metric
}

// Logger gathers metric sets and writes them as EMF lines.
type Logger struct {
	Namespace string
	sets      []*Set
}

// New returns a logger for the namespace.
func New(namespace string) *Logger { return &Logger{Namespace: namespace} }

// With returns the set for these dimensions (key, value pairs), creating it on first use.
func (l *Logger) With(kv ...string) *Set {
	if len(kv)%2 != 0 {
		panic("emf: With needs key, value pairs")
	}
	dims := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		dims[kv[i]] = kv[i+1]
	}
next:
	for _, s := range l.sets {
		if len(s.dims) != len(dims) {
			continue
		}
		for k, v := range dims {
			if s.dims[k] != v {
				continue next
			}
		}
		return s
	}
	s := &Set{dims: dims}
	l.sets = append(l.sets, s)
	return s
}

// Put adds a value to the set (a repeated name adds up).
func (s *Set) Put(name string, unit Unit, v float64) *Set {
	for i := range s.metrics {
		if s.metrics[i].name == name {
			s.metrics[i].value += v
			return s
		}
	}
	s.metrics = append(s.metrics, metric{name, unit, v})
	return s
}

// Write writes one EMF JSON line per non-empty set, stamped with t.
func (l *Logger) Write(w io.Writer, t time.Time) error {
	for _, s := range l.sets {
		if len(s.metrics) == 0 {
			continue
		}
		keys := make([]string, 0, len(s.dims))
		for k := range s.dims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		defs := make([]map[string]string, len(s.metrics))
		doc := map[string]any{}
		for k, v := range s.dims {
			doc[k] = v
		}
		for i, m := range s.metrics {
			defs[i] = map[string]string{"Name": m.name, "Unit": string(m.unit)}
			doc[m.name] = m.value
		}
		doc["_aws"] = map[string]any{
			"Timestamp": t.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  l.Namespace,
				"Dimensions": [][]string{keys},
				"Metrics":    defs,
			}},
		}
		line, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding metrics: %w", err)
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
	}
	return nil
}
