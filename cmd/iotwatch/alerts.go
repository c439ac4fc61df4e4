package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// newAlerts is what people do to their alarms, against the table the functions read: the next
// batch (or silence check) honours it, with no request of its own.
func newAlerts(stdout io.Writer, now func() time.Time) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Acknowledge, snooze and list open alert episodes (DynamoDB table)"}

	var ack storeFlags
	var ackUser, ackDevice, ackRule string
	ackCmd := &cobra.Command{
		Use:   "ack --user U --device D --rule R",
		Short: "Acknowledge an open episode: no more reminders until it escalates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rule, err := alarm.ParseRule(ackRule)
			if err != nil {
				return err
			}
			s, err := ack.open(cmd)
			if err != nil {
				return err
			}
			changed, err := evaluator.Act(cmd.Context(), s, ackDevice, func(st *alarm.DeviceState) (bool, error) {
				return st.Ack(rule, ackUser), nil
			})
			if err != nil {
				return err
			}
			if !changed {
				return fmt.Errorf("%s has no open, unacknowledged %s episode on %s", ackUser, ackRule, ackDevice)
			}
			fmt.Fprintf(stdout, "acknowledged %s's %s episode on %s\n", ackUser, ackRule, ackDevice)
			return nil
		},
	}
	ack.add(ackCmd)
	userDeviceRule(ackCmd, &ackUser, &ackDevice, &ackRule, true)

	var snz storeFlags
	var snzUser, snzDevice, snzRule, snzUntil string
	var snzFor time.Duration
	snoozeCmd := &cobra.Command{
		Use:   "snooze --user U --device D [--rule R] (--for 2h | --until TIME)",
		Short: "Hold a user's notifications of a device (or one rule of it) until a time; alerts are still made and stored",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var until time.Time
			switch {
			case snzFor > 0 && snzUntil == "":
				until = now().Add(snzFor)
			case snzFor == 0 && snzUntil != "":
				t, err := time.Parse(time.RFC3339, snzUntil)
				if err != nil {
					return fmt.Errorf("--until %q: want RFC 3339, e.g. 2026-03-01T18:00:00Z", snzUntil)
				}
				until = t
			default:
				return fmt.Errorf("give one of --for (e.g. 2h) or --until (RFC 3339)")
			}
			if !until.After(now()) {
				return fmt.Errorf("the snooze would end at %s, which has passed", until.UTC().Format(time.RFC3339))
			}
			if snzRule != "" {
				if _, err := alarm.ParseRule(snzRule); err != nil {
					return err
				}
			}
			s, err := snz.open(cmd)
			if err != nil {
				return err
			}
			if d, err := s.LoadDevice(cmd.Context(), snzDevice); err != nil {
				return err
			} else if len(d.Configs) == 0 {
				return fmt.Errorf("device %s has no thresholds: nothing to snooze (a typing error?)", snzDevice)
			}
			if _, err := evaluator.Act(cmd.Context(), s, snzDevice, func(st *alarm.DeviceState) (bool, error) {
				st.Snooze(snzUser, alert.Rule(snzRule), until)
				return true, nil
			}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "snoozed %s's %s on %s until %s\n", snzUser, ruleOrAll(snzRule), snzDevice, until.UTC().Format(time.RFC3339))
			return nil
		},
	}
	snz.add(snoozeCmd)
	userDeviceRule(snoozeCmd, &snzUser, &snzDevice, &snzRule, false)
	snoozeCmd.Flags().DurationVar(&snzFor, "for", 0, "how long, e.g. 2h")
	snoozeCmd.Flags().StringVar(&snzUntil, "until", "", "until when (RFC 3339)")

	var unz storeFlags
	var unzUser, unzDevice, unzRule string
	unsnoozeCmd := &cobra.Command{
		Use:   "unsnooze --user U --device D [--rule R]",
		Short: "End a snooze",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := unz.open(cmd)
			if err != nil {
				return err
			}
			changed, err := evaluator.Act(cmd.Context(), s, unzDevice, func(st *alarm.DeviceState) (bool, error) {
				return st.Unsnooze(unzUser, alert.Rule(unzRule)), nil
			})
			if err != nil {
				return err
			}
			if !changed {
				return fmt.Errorf("%s has no snooze of %s on %s", unzUser, ruleOrAll(unzRule), unzDevice)
			}
			fmt.Fprintf(stdout, "unsnoozed %s's %s on %s\n", unzUser, ruleOrAll(unzRule), unzDevice)
			return nil
		},
	}
	unz.add(unsnoozeCmd)
	userDeviceRule(unsnoozeCmd, &unzUser, &unzDevice, &unzRule, false)

	var open storeFlags
	var openUser, openDevice string
	openCmd := &cobra.Command{
		Use:   "open [--user U] [--device D]",
		Short: "List open episodes with their state (acknowledged, snoozed until); every device's without --device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open.open(cmd)
			if err != nil {
				return err
			}
			states := map[string]evaluator.State{}
			if openDevice != "" {
				d, err := s.LoadDevice(cmd.Context(), openDevice)
				if err != nil {
					return err
				}
				states[openDevice] = d.State
			} else if states, err = s.States(cmd.Context()); err != nil {
				return err
			}
			ids := make([]string, 0, len(states))
			for id := range states {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tUSER\tRULE\tSEVERITY\tSINCE\tLAST NOTICE\tACKNOWLEDGED\tSNOOZED UNTIL")
			t := now()
			for _, id := range ids {
				st := states[id].Alarm
				for _, e := range st.Episodes() {
					if openUser != "" && e.User != openUser {
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, e.User, e.Rule, e.Severity, e.Since.Format(time.RFC3339),
						e.LastNotice.Format(time.RFC3339), map[bool]string{true: "yes", false: "no"}[e.Acked], snoozedUntil(&st, e.User, e.Rule, t))
				}
			}
			return tw.Flush()
		},
	}
	open.add(openCmd)
	openCmd.Flags().StringVar(&openUser, "user", "", "only this user's episodes")
	openCmd.Flags().StringVar(&openDevice, "device", "", "only this device (one Query instead of a Scan)")

	cmd.AddCommand(ackCmd, snoozeCmd, unsnoozeCmd, openCmd)
	return cmd
}

func userDeviceRule(cmd *cobra.Command, user, device, rule *string, ruleRequired bool) {
	cmd.Flags().StringVar(user, "user", "", "user id")
	cmd.Flags().StringVar(device, "device", "", "device id")
	cmd.Flags().StringVar(rule, "rule", "", "rule (temperature_high, temperature_low, light_no_occupancy, temperature_anomaly, sensor_stuck, device_silent)")
	_ = cmd.MarkFlagRequired("user")
	_ = cmd.MarkFlagRequired("device")
	if ruleRequired {
		_ = cmd.MarkFlagRequired("rule")
	}
}

func ruleOrAll(rule string) string {
	if rule == "" {
		return "every rule"
	}
	return rule
}

// snoozedUntil is when the latest snooze covering the user's rule ends ("-" when none is running).
func snoozedUntil(st *alarm.DeviceState, user string, rule alert.Rule, now time.Time) string {
	var until int64
	for _, z := range st.Snoozes {
		if z.User == user && (z.Rule == "" || z.Rule == string(rule)) && z.Until > now.UnixNano() && z.Until > until {
			until = z.Until
		}
	}
	if until == 0 {
		return "-"
	}
	return time.Unix(0, until).UTC().Format(time.RFC3339)
}
