package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

func newRules(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "The rules of the long form: on any metric, for a device, a location or the fleet"}
	var rulesFile, thresholdsFile, devicesFile, dev, user string
	explain := &cobra.Command{
		Use:   "explain --device ID [--user U] (--rules FILE | --thresholds FILE)",
		Short: "The rules in force for a device, and for each the row it came from and the rows it beat",
		Long: `explain reads the local files as iotwatch run does (a rules file, a thresholds file, or both,
and the devices file for the locations) and prints, for one device, each user's rules in force:
the winning row's scope (device, location or fleet), its thresholds and version, and the less
specific rows it won over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rulesFile == "" && thresholdsFile == "" {
				return fmt.Errorf("give --rules, --thresholds, or both")
			}
			var rows []rule.Row
			if thresholdsFile != "" {
				cfgs, err := readThresholds(thresholdsFile)
				if err != nil {
					return err
				}
				rows = rule.FromConfigs(cfgs)
			}
			if rulesFile != "" {
				long, err := readCSV(rulesFile, "rules", "nothing used", func(r io.Reader, name string) ([]rule.Row, error) {
					return rule.ParseCSV(r, name, rule.BuiltIn{})
				})
				if err != nil {
					return err
				}
				rows = append(rows, long...)
			}
			info := device.Device{ID: dev}
			if devicesFile != "" {
				devs, err := readCSV(devicesFile, "devices", "nothing used", device.ParseCSV)
				if err != nil {
					return err
				}
				for _, d := range devs {
					if d.ID == dev {
						info = d
					}
				}
			}
			return printInForce(stdout, info, rule.Resolve(rule.Versioned(nil, rows), info), user)
		},
	}
	f := explain.Flags()
	f.StringVar(&rulesFile, "rules", "", "the rules file (long form)")
	f.StringVar(&thresholdsFile, "thresholds", "", "the thresholds file (wide form): its device rows")
	f.StringVar(&devicesFile, "devices", "", "the devices file: the device's location")
	f.StringVar(&dev, "device", "", "the device")
	f.StringVar(&user, "user", "", "only this user's rules")
	requireFlags(explain, "device")
	cmd.AddCommand(explain)
	return cmd
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
