package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
)

func newMetrics(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "metrics", Short: "The metrics catalog: metrics beyond the built-ins that readings may carry and rules may name",
		Long: `The metrics catalog (docs/metrics.md): name,unit,min,max,floor. On the table the evaluate and
aggregate functions read (--table: a change reaches them within 60 s) or in a local metrics file,
the one iotwatch run --metrics follows (--metrics FILE).`}
	cmd.AddCommand(newMetricsPut(stdout), newMetricsList(stdout), newMetricsDelete(stdout))
	return cmd
}

// metricsStore is where put, list and delete change the catalog: the table (dynamostore) or a
// local metrics file (filestore.MetricsFile).
type metricsStore interface {
	ListMetrics(ctx context.Context) ([]reading.Declared, error)
	PutMetrics(ctx context.Context, ds []reading.Declared) error
	DeleteMetrics(ctx context.Context, names []string) error
}

// metricsTarget is the flags that choose the catalog's home: --table (and --endpoint) or
// --metrics (with --rules, the rules file a delete must not leave naming a removed metric).
type metricsTarget struct {
	store      storeFlags
	file, rule string
}

func (t *metricsTarget) add(cmd *cobra.Command) {
	t.store.add(cmd)
	cmd.Flags().StringVar(&t.file, "metrics", "", "a local metrics file (the one iotwatch run --metrics follows) instead of the table")
}

func (t *metricsTarget) open(cmd *cobra.Command) (metricsStore, string, error) {
	if t.file != "" {
		if cmd.Flags().Changed("table") || cmd.Flags().Changed("endpoint") {
			return nil, "", errors.New("give --table (and --endpoint) or --metrics, not both")
		}
		return filestore.MetricsFile{Path: t.file, Rules: t.rule}, t.file, nil
	}
	if t.rule != "" {
		return nil, "", errors.New("--rules goes with --metrics FILE: on the table, delete checks the table's rules")
	}
	s, err := t.store.open(cmd)
	if err != nil {
		return nil, "", fmt.Errorf("%w (or --metrics FILE for a local metrics file)", err)
	}
	return s, t.store.table, nil
}

// metricFlags are one declared metric given on the command line, named as the file's columns.
type metricFlags struct {
	name, unit, min, max, floor string
}

func (f *metricFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the metric's name (as readings carry it: ^[a-z][a-z0-9_]{0,31}$)")
	fl.StringVar(&f.unit, "unit", "", "its unit, as texts print it after a value (µg/m³, W)")
	fl.StringVar(&f.min, "min", "", "the least valid value")
	fl.StringVar(&f.max, "max", "", "the greatest valid value")
	fl.StringVar(&f.floor, "floor", "", "anomaly rules' floor of the standard deviation (default 0.1)")
}

func (f *metricFlags) given(cmd *cobra.Command) bool {
	for _, n := range []string{"name", "unit", "min", "max", "floor"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// declared returns the metric the flags give, checked as a file's line is; every problem is
// named by its flag.
func (f *metricFlags) declared() (reading.Declared, error) {
	d := reading.Declared{Name: f.name, Unit: f.unit}
	var errs []error
	for _, n := range []struct {
		flag, s  string
		v        *float64
		required bool
	}{{"--min", f.min, &d.Min, true}, {"--max", f.max, &d.Max, true}, {"--floor", f.floor, &d.Floor, false}} {
		if n.s == "" {
			if n.required {
				errs = append(errs, fmt.Errorf("%s: is required", n.flag))
			}
			continue
		}
		x, err := strconv.ParseFloat(n.s, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", n.flag, n.s))
			continue
		}
		if n.flag == "--floor" && x == 0 {
			errs = append(errs, fmt.Errorf("--floor: 0 is not above 0 (leave it out for the default %g)", reading.DefaultDeclaredFloor))
			continue
		}
		*n.v = x
	}
	if len(errs) == 0 {
		for _, fe := range reading.FieldErrors(d.Check()) {
			errs = append(errs, fmt.Errorf("--%s: %s", fe.Field, fe.Msg))
		}
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("invalid metric, nothing written:\n%w", errors.Join(errs...))
	}
	return d, nil
}

func newMetricsPut(stdout io.Writer) *cobra.Command {
	var target metricsTarget
	var flags metricFlags
	cmd := &cobra.Command{
		Use:   "put (FILE.csv | --name N --min A --max B [--unit U] [--floor F]) (--table T | --metrics FILE)",
		Short: "Declare metrics: a whole metrics file (nothing written if any line is wrong) or one metric from flags",
		Long: `put declares metrics over those of the same name; the others stay. The whole input is validated
first: a name that is a built-in metric or a reading's own field, a bad name, min above max, a
bound that is not a finite number refuse it, naming the line (or the flag) and the field.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ds []reading.Declared
			switch {
			case len(args) == 1 && flags.given(cmd):
				return errors.New("give a file or a metric's flags, not both")
			case len(args) == 1:
				cat, err := readCatalog(args[0], "nothing written")
				if err != nil {
					return err
				}
				ds = cat.Declared()
			default:
				d, err := flags.declared()
				if err != nil {
					return err
				}
				ds = []reading.Declared{d}
			}
			s, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := s.PutMetrics(cmd.Context(), ds); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "declared %d metrics in %s\n", len(ds), name)
			return nil
		},
	}
	target.add(cmd)
	flags.add(cmd)
	return cmd
}

func newMetricsList(stdout io.Writer) *cobra.Command {
	var target metricsTarget
	cmd := &cobra.Command{
		Use:   "list (--table T | --metrics FILE)",
		Short: "Print the declared metrics as a metrics file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := target.open(cmd)
			if err != nil {
				return err
			}
			ds, err := s.ListMetrics(cmd.Context())
			if err != nil {
				return err
			}
			return reading.WriteCatalog(stdout, ds)
		},
	}
	target.add(cmd)
	return cmd
}

func newMetricsDelete(stdout io.Writer) *cobra.Command {
	var target metricsTarget
	cmd := &cobra.Command{
		Use:   "delete NAME... (--table T | --metrics FILE [--rules FILE])",
		Short: "Remove declared metrics (refused while a rule names one); their data stays in bronze",
		Long: `delete removes metrics from the catalog. A name that is not declared, or one that a rule still
names (on the table; locally in --rules FILE), refuses the whole call. Nothing of the metric's
data is lost: bronze keeps every field as it arrived, and declaring the metric again makes it
readable from silver's next rewrite of those hours (docs/metrics.md).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := s.DeleteMetrics(cmd.Context(), args); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %s from %s\n", strings.Join(args, ", "), name)
			return nil
		},
	}
	target.add(cmd)
	cmd.Flags().StringVar(&target.rule, "rules", "", "with --metrics: the rules file a deleted metric must not be named in")
	return cmd
}

// readCatalog reads a metrics file, refused whole (every line and field named) when bad.
func readCatalog(path, outcome string) (*reading.Catalog, error) {
	if path == "" {
		return nil, nil
	}
	cats, err := readCSV(path, "metrics file", outcome, func(r io.Reader, name string) ([]*reading.Catalog, error) {
		c, err := reading.ParseCatalog(r, name)
		return []*reading.Catalog{c}, err
	})
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	return cats[0], nil
}
