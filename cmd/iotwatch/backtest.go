package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	devicepkg "github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/tools/backtest"
)

func newBacktest(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var thresholdsFile, rulesFile, devicesFile, readingsFile, csvFile, device, until, usersFile, metricsFile string
	var maxRejects int
	cmd := &cobra.Command{
		Use:   "backtest (--thresholds FILE.csv | --rules FILE.csv [--devices FILE.csv]) (--readings FILE.jsonl | --csv FILE --device ID)",
		Short: "What would these thresholds have raised? Prints the alerts as JSON lines",
		Long: `backtest runs the evaluate function's core (the same decoder and alarm state machine) over
recorded readings and prints the alerts as JSON lines, in the order they arise. Readings come as
JSON lines (--readings, - for standard input) or in the UCI occupancy CSV format (--csv with
--device). Every rule runs, device_silent on the backtest's clock: the largest event time applied
so far, and at the end --until (default: that largest time). Rejected readings are reported on
standard error as FILE:LINE: reason: detail; the exit status is 1 when there were more than
--max-rejects of them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxRejects < 0 {
				return fmt.Errorf("--max-rejects %d: out of range: want 0 or more", maxRejects)
			}
			if (readingsFile == "") == (csvFile == "") {
				return fmt.Errorf("give either --readings or --csv")
			}
			if csvFile != "" && device == "" {
				return fmt.Errorf("--csv needs --device ID")
			}
			if thresholdsFile == "" && rulesFile == "" {
				return fmt.Errorf("give --thresholds, --rules, or both")
			}
			var opts backtest.Options
			files, err := readLocalFilesWith(metricsFile, thresholdsFile, rulesFile, devicesFile)
			if err != nil {
				return err
			}
			configs := files.configs
			opts.Rules, opts.Catalog = files.rows, files.catalog
			if devicesFile != "" {
				opts.Devices = map[string]devicepkg.Device{}
				for _, d := range files.devices {
					opts.Devices[d.ID] = d
				}
			}
			prefs := map[string]user.User{}
			if usersFile != "" {
				f, err := os.Open(usersFile)
				if err != nil {
					return err
				}
				list, err := user.ParseCSV(f, usersFile)
				f.Close()
				if err != nil {
					return err
				}
				for _, u := range list {
					prefs[u.ID] = u
				}
			}
			if until != "" {
				t, ok := reading.ParseTime([]byte(until))
				if !ok {
					return fmt.Errorf("--until %q: want an RFC 3339 time such as 2015-02-05T00:00:00Z", until)
				}
				opts.Until = t
			}
			var src backtest.Source
			var name string
			switch {
			case readingsFile == "-":
				name = "stdin"
				src = backtest.NewLines(stdin, name)
			case readingsFile != "":
				f, err := os.Open(readingsFile)
				if err != nil {
					return err
				}
				defer f.Close()
				name = readingsFile
				src = backtest.NewLines(f, name)
			default:
				f, err := os.Open(csvFile)
				if err != nil {
					return err
				}
				defer f.Close()
				name = csvFile
				src = backtest.NewCSV(f, name, device)
			}
			out := bufio.NewWriter(stdout)
			defer out.Flush()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			sum, err := backtest.Run(configs, src, opts,
				func(a alert.Alert) error {
					// Quiet hours decide what is sent, never which alerts exist: the same
					// alerts, marked (DESIGN.md, "Acknowledge and snooze").
					if u, ok := prefs[a.UserID]; ok && u.Holds(a.Severity, a.AlertTime) {
						a.Suppressed = alert.QuietHours
					}
					return enc.Encode(a)
				},
				func(r backtest.Rejected) error {
					where := fmt.Sprintf("%s:%d", name, r.Line)
					if r.Element >= 0 {
						where += fmt.Sprintf(": element %d", r.Element)
					}
					_, err := fmt.Fprintf(stderr, "%s: %s: %s\n", where, r.Rejection.Reason, r.Rejection.Detail)
					return err
				})
			if err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
			counts := reading.Counts(sum.Rejected)
			rejected, detail := counts.Total(), ""
			if rejected > 0 {
				detail = " (" + counts.String() + ")"
			}
			fmt.Fprintf(stderr, "backtest: %d messages, %d readings of %d device(s), %d rejected%s, %d late, %d duplicates, %d alerts\n",
				sum.Messages, sum.Readings, sum.Devices, rejected, detail, sum.Late, sum.Duplicates, sum.Alerts)
			if rejected > maxRejects {
				return &exitError{code: 1, err: fmt.Errorf("%d readings rejected (allowed: %d, see --max-rejects)", rejected, maxRejects)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&thresholdsFile, "thresholds", "", "thresholds CSV, the wide form (user_id,device_id,temp_warning,...)")
	cmd.Flags().StringVar(&metricsFile, "metrics", "", "metrics catalog CSV (name,unit,min,max,floor): metrics beyond the built-ins that readings may carry and rules may name")
	cmd.Flags().StringVar(&rulesFile, "rules", "", "rules CSV, the long form (user_id,scope,metric,rule,...): rules on any metric for a device, a location or the fleet")
	cmd.Flags().StringVar(&devicesFile, "devices", "", "devices CSV (device_id,name,location): the locations --rules' location rows apply to")
	cmd.Flags().StringVar(&usersFile, "users", "", "users CSV: mark the alerts people's quiet hours would hold (the alerts are the same)")
	cmd.Flags().StringVar(&readingsFile, "readings", "", "readings as JSON lines, - for standard input")
	cmd.Flags().StringVar(&csvFile, "csv", "", "readings in the UCI occupancy CSV format")
	cmd.Flags().StringVar(&device, "device", "", "device id of the --csv readings")
	cmd.Flags().IntVar(&maxRejects, "max-rejects", 0, "rejected readings tolerated before the exit status is 1")
	cmd.Flags().StringVar(&until, "until", "", "where the silence clock ends (RFC 3339; default: the last event time)")
	return cmd
}

// readThresholds reads and validates a whole thresholds file.
func readThresholds(path string) ([]threshold.Config, error) {
	return readCSV(path, "thresholds", "nothing used", threshold.ParseCSV)
}
