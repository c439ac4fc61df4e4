package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

func newRules(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "The rules of the long form: on any metric, for a device, a location or the fleet",
		Long: `The rules of the long form (docs/rules.md), on the table the evaluate function reads (--table)
or in a local rules file, the one iotwatch run --rules follows (--rules FILE).`}
	cmd.AddCommand(newRulesPut(stdout), newRulesList(stdout), newRulesDelete(stdout), newRulesExplain(stdout))
	return cmd
}

// rulesStore is where put, list and delete change the rows: the table (dynamostore) or a local
// rules file (filestore.RulesFile).
type rulesStore interface {
	ListRules(ctx context.Context, sc *rule.Scope) ([]rule.Row, error)
	PutRules(ctx context.Context, rows []rule.Row) error
	DeleteRules(ctx context.Context, keys []rule.Key) error
}

// rulesTarget is the flags that choose the rows' home: --table (and --endpoint) or --rules (with
// --metrics, the catalog whose metrics its rules may name).
type rulesTarget struct {
	store   storeFlags
	file    string
	metrics string
}

func (t *rulesTarget) add(cmd *cobra.Command) {
	t.store.add(cmd)
	cmd.Flags().StringVar(&t.file, "rules", "", "a local rules file (the one iotwatch run --rules follows) instead of the table")
	cmd.Flags().StringVar(&t.metrics, "metrics", "", "with --rules: the metrics file (iotwatch run --metrics) whose metrics rules may name")
}

// open returns the chosen home and its name for messages.
func (t *rulesTarget) open(cmd *cobra.Command) (rulesStore, string, error) {
	if t.file != "" {
		if cmd.Flags().Changed("table") || cmd.Flags().Changed("endpoint") {
			return nil, "", errors.New("give --table (and --endpoint) or --rules, not both")
		}
		cat, err := readCatalog(t.metrics, "nothing changed")
		if err != nil {
			return nil, "", err
		}
		return filestore.RulesFile{Path: t.file, Metrics: cat}, t.file, nil
	}
	if t.metrics != "" {
		return nil, "", errors.New("--metrics goes with --rules FILE: the table's rules are checked against the table's catalog")
	}
	s, err := t.store.open(cmd)
	if err != nil {
		return nil, "", fmt.Errorf("%w (or --rules FILE for a local rules file)", err)
	}
	return s, t.store.table, nil
}

// ruleFlags are one rule given on the command line, named as the rules file's columns.
type ruleFlags struct {
	user, scope, metric, kind                              string
	warning, violation, sustain, hysteresis, remind, floor string
}

func (f *ruleFlags) addKey(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "user_id")
	fl.StringVar(&f.scope, "scope", "", "device:ID, location:NAME or fleet")
	fl.StringVar(&f.metric, "metric", "", "the metric (empty for silent)")
	fl.StringVar(&f.kind, "rule", "", "high, low, no_occupancy, anomaly, stuck or silent")
}

func (f *ruleFlags) addValues(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.warning, "warning", "", "warning (high, low: a threshold; no_occupancy: the metric's; anomaly: a z-score; stuck, silent: seconds)")
	fl.StringVar(&f.violation, "violation", "", "violation threshold (high, low)")
	fl.StringVar(&f.sustain, "sustain-seconds", "", "seconds a level must hold before it is raised")
	fl.StringVar(&f.hysteresis, "hysteresis", "", "how far back past the threshold a level must go to clear")
	fl.StringVar(&f.remind, "remind-seconds", "", "remind of an open episode every so many seconds (300 or more)")
	fl.StringVar(&f.floor, "floor", "", "anomaly: the standard deviation's floor")
}

// given reports whether any of the rule's flags was given.
func (f *ruleFlags) given(cmd *cobra.Command) bool {
	for _, n := range []string{"user", "scope", "metric", "rule", "warning", "violation", "sustain-seconds", "hysteresis", "remind-seconds", "floor"} {
		if fl := cmd.Flags().Lookup(n); fl != nil && fl.Changed {
			return true
		}
	}
	return false
}

// flagOf names a rules file's column as its flag.
func flagOf(field string) string {
	if field == "user_id" {
		return "--user"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

// row returns the rule the flags give, validated as a file's row is; every problem is named by
// its flag.
func (f *ruleFlags) row() (rule.Row, error) {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	k, err := f.key()
	if err != nil {
		return rule.Row{}, fmt.Errorf("invalid rule, nothing written:\n%w", err)
	}
	r := rule.Row{UserID: k.UserID, Scope: k.Scope, Metric: k.Metric, Kind: k.Kind}
	for _, n := range []struct {
		field, s string
		v        *threshold.Value
	}{{"warning", f.warning, &r.Warning}, {"violation", f.violation, &r.Violation}, {"hysteresis", f.hysteresis, &r.Hysteresis}, {"floor", f.floor, &r.Floor}} {
		if n.s == "" {
			continue
		}
		x, err := strconv.ParseFloat(n.s, 64)
		if err != nil {
			bad(flagOf(n.field), "%q is not a number", n.s)
			continue
		}
		*n.v = threshold.Of(x)
	}
	for _, n := range []struct {
		field, s string
		v        *int64
	}{{"sustain_seconds", f.sustain, &r.SustainSeconds}, {"remind_seconds", f.remind, &r.RemindSeconds}} {
		if n.s == "" {
			continue
		}
		x, err := strconv.ParseInt(n.s, 10, 64)
		if err != nil {
			bad(flagOf(n.field), "%q is not whole seconds", n.s)
			continue
		}
		*n.v = x
	}
	if len(errs) == 0 {
		for _, fe := range rule.FieldErrors(r.Validate(rule.WellFormed{})) { // the store checks the metric against its catalog
			bad(flagOf(fe.Field), "%s", fe.Msg)
		}
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("invalid rule, nothing written:\n%w", errors.Join(errs...))
	}
	return r, nil
}

// key returns the (user, scope, metric, rule) the flags name.
func (f *ruleFlags) key() (rule.Key, error) {
	k, err := rule.ParseKey(f.user, f.scope, f.metric, f.kind, rule.WellFormed{})
	var errs []error
	for _, fe := range rule.FieldErrors(err) {
		errs = append(errs, fmt.Errorf("%s: %s", flagOf(fe.Field), fe.Msg))
	}
	return k, errors.Join(errs...)
}

// ruleInput is what put or delete is given: a file (its one argument) or one rule's flags, not
// both.
func ruleInput[T any](cmd *cobra.Command, args []string, flags *ruleFlags, fromFile func(path string) ([]T, error), fromFlags func() (T, error)) ([]T, error) {
	switch {
	case len(args) == 1 && flags.given(cmd):
		return nil, errors.New("give a file or a rule's flags, not both")
	case len(args) == 1:
		return fromFile(args[0])
	}
	one, err := fromFlags()
	if err != nil {
		return nil, err
	}
	return []T{one}, nil
}

func newRulesPut(stdout io.Writer) *cobra.Command {
	var target rulesTarget
	var flags ruleFlags
	cmd := &cobra.Command{
		Use:   "put (FILE.csv | --user U --scope S [--metric M] --rule R [--warning W ...]) (--table T | --rules FILE)",
		Short: "Add or replace rules: a whole rules file (nothing written if any line is wrong) or one rule from flags",
		Long: `put writes rows over those of the same (user, scope, metric, rule); the others stay. A row keeps
its version while unchanged and takes the next when changed. The whole input is validated
first, and so are the limits (500 rows a user, 2,000 a scope): a refusal names the line (or
the flag) and the field, and writes nothing.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := ruleInput(cmd, args, &flags, func(path string) ([]rule.Row, error) {
				return readCSV(path, "rules", "nothing written", parseRulesToStore)
			}, flags.row)
			if err != nil {
				return err
			}
			s, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := s.PutRules(cmd.Context(), rows); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d rules to %s\n", len(rows), name)
			return nil
		},
	}
	target.add(cmd)
	flags.addKey(cmd)
	flags.addValues(cmd)
	return cmd
}

func newRulesList(stdout io.Writer) *cobra.Command {
	var target rulesTarget
	var scope, user string
	cmd := &cobra.Command{
		Use:   "list [--scope S] [--user U] (--table T | --rules FILE)",
		Short: "Print the rules as a rules file (with their versions, from the table)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sc *rule.Scope
			if scope != "" {
				p, err := rule.ParseScope(scope)
				if err != nil {
					return fmt.Errorf("--scope: %w", err)
				}
				sc = &p
			}
			s, _, err := target.open(cmd)
			if err != nil {
				return err
			}
			rows, err := s.ListRules(cmd.Context(), sc)
			if err != nil {
				return err
			}
			var out []rule.Row
			for _, r := range rows {
				if user == "" || r.UserID == user {
					out = append(out, r)
				}
			}
			return rule.WriteCSV(stdout, out)
		},
	}
	target.add(cmd)
	cmd.Flags().StringVar(&scope, "scope", "", "only this scope's rows (device:ID, location:NAME or fleet)")
	cmd.Flags().StringVar(&user, "user", "", "only this user's rows")
	return cmd
}

func newRulesDelete(stdout io.Writer) *cobra.Command {
	var target rulesTarget
	var flags ruleFlags
	cmd := &cobra.Command{
		Use:   "delete (FILE.csv | --user U --scope S [--metric M] --rule R) (--table T | --rules FILE)",
		Short: "Remove rules: those a rules file names (by user, scope, metric and rule) or one from flags",
		Long: `delete removes the rows of the (user, scope, metric, rule) given; if any of them is not there,
nothing is deleted. Episodes of a deleted rule resolve at the device's next reading.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := ruleInput(cmd, args, &flags, func(path string) ([]rule.Key, error) {
				return readCSV(path, "rules", "nothing deleted", func(r io.Reader, name string) ([]rule.Key, error) {
					return rule.ParseKeys(r, name, rule.WellFormed{})
				})
			}, func() (rule.Key, error) {
				k, err := flags.key()
				if err != nil {
					return k, fmt.Errorf("invalid rule, nothing deleted:\n%w", err)
				}
				return k, nil
			})
			if err != nil {
				return err
			}
			s, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := s.DeleteRules(cmd.Context(), keys); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %d rules from %s\n", len(keys), name)
			return nil
		},
	}
	target.add(cmd)
	flags.addKey(cmd)
	return cmd
}

func newRulesExplain(stdout io.Writer) *cobra.Command {
	var store storeFlags
	var rulesFile, thresholdsFile, devicesFile, server, dev, user string
	explain := &cobra.Command{
		Use:   "explain --device ID [--user U] (--table T | --server URL | --rules FILE [--thresholds FILE] [--devices FILE])",
		Short: "The rules in force for a device, and for each the row it came from and the rows it beat",
		Long: `explain prints, for one device, each user's rules in force: the winning row's scope (device,
location or fleet), its thresholds and version, and the less specific rows it won over. It
reads the table (--table), a running iotwatch run --http (--server: the rules it has in force
now), or the local files as iotwatch run does (a rules file, a thresholds file, or both, and
the devices file for the locations).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			local := rulesFile != "" || thresholdsFile != ""
			switch {
			case devicesFile != "" && !local:
				return errors.New("--devices goes with the local files (--rules, --thresholds): the table and a run know the devices' locations")
			case server != "" && (local || cmd.Flags().Changed("table")), local && cmd.Flags().Changed("table"):
				return errors.New("give one of --table, --server, or the local files (--rules, --thresholds)")
			case server != "":
				got, err := explainFromRun(cmd.Context(), server, dev)
				if err != nil {
					return err
				}
				return printInForce(stdout, got.Device, got.Rules, user)
			case local:
				info, rows, err := readLocalRules(rulesFile, thresholdsFile, devicesFile, dev)
				if err != nil {
					return err
				}
				return printInForce(stdout, info, rule.Resolve(rule.Versioned(nil, rows), info), user)
			}
			s, err := store.open(cmd)
			if err != nil {
				return fmt.Errorf("%w (or --server, or the local files: --rules, --thresholds)", err)
			}
			d, err := s.LoadDevice(cmd.Context(), dev)
			if err != nil {
				return err
			}
			return printInForce(stdout, d.Info, d.InForce(), user)
		},
	}
	store.add(explain)
	f := explain.Flags()
	f.StringVar(&rulesFile, "rules", "", "the rules file (long form)")
	f.StringVar(&thresholdsFile, "thresholds", "", "the thresholds file (wide form): its device rows")
	f.StringVar(&devicesFile, "devices", "", "the devices file: the device's location")
	serverFlag(explain, &server)
	f.StringVar(&dev, "device", "", "the device")
	f.StringVar(&user, "user", "", "only this user's rules")
	requireFlags(explain, "device")
	return explain
}

// readLocalRules reads the local files as iotwatch run does: the rows of both forms, and the
// device's metadata.
func readLocalRules(rulesFile, thresholdsFile, devicesFile, dev string) (device.Device, []rule.Row, error) {
	info := device.Device{ID: dev}
	files, err := readLocalFiles(thresholdsFile, rulesFile, devicesFile)
	if err != nil {
		return info, nil, err
	}
	for _, d := range files.devices {
		if d.ID == dev {
			info = d
		}
	}
	return info, append(rule.FromConfigs(files.configs), files.rows...), nil
}

// explainFromRun asks a running `iotwatch run --http` for a device's rules in force.
func explainFromRun(ctx context.Context, server, dev string) (links.Explained, error) {
	var out links.Explained
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/api/rules?device="+url.QueryEscape(dev), nil)
	if err != nil {
		return out, fmt.Errorf("--server %q: %w", server, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, fmt.Errorf("reaching iotwatch run at %s: %w", server, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&e)
		return out, fmt.Errorf("iotwatch run at %s answered %s: %s", server, res.Status, e.Error)
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("iotwatch run at %s: %w", server, err)
	}
	return out, nil
}

// printInForce prints the rules in force of a device (of user, when given) as a table.
func printInForce(w io.Writer, d device.Device, rules []rule.InForce, user string) error {
	where := "no location"
	if d.Location != "" {
		where = "location " + d.Location
	}
	fmt.Fprintf(w, "device %s (%s)\n", d.ID, where)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tRULE\tWARNING\tVIOLATION\tSUSTAIN\tFROM\tVERSION\tOVER")
	n := 0
	for _, r := range rules {
		if user != "" && r.UserID != user {
			continue
		}
		var over []string
		for _, o := range r.Over {
			over = append(over, o.Scope.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.UserID, r.Name(), orDash(r.Warning), orDash(r.Violation),
			seconds(r.SustainSeconds), r.Scope, r.Version, strings.Join(over, ", "))
		n++
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(w, "no rule in force")
	}
	return nil
}

func orDash(v threshold.Value) string {
	if !v.Set {
		return "-"
	}
	return v.String()
}

func seconds(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10) + " s"
}
