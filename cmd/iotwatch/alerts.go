package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// newAlerts is what people do to their alarms, against the table the functions read: the next
// batch (or silence check) honours it, with no request of its own.
func newAlerts(stdout io.Writer, now func() time.Time) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Acknowledge, snooze and list open alert episodes (DynamoDB table)"}

	var ack storeFlags
	var ackUser, ackDevice, ackRule, ackServer, ackAlert string
	var ackTopic topicFlag
	ackCmd := &cobra.Command{
		Use:   "ack (--alert ID | --user U --device D --rule R)",
		Short: "Acknowledge an open episode: no more reminders until it escalates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ackAlert != "" && (ackUser != "" || ackRule != "") {
				return fmt.Errorf("--alert names the episode: give no --user or --rule with it (--device narrows the search)")
			}
			if ackAlert == "" && (ackUser == "" || ackDevice == "" || ackRule == "") {
				return fmt.Errorf("give --alert ID, or --user, --device and --rule")
			}
			if ackAlert != "" && ackServer != "" {
				return callRun(cmd, stdout, ackServer, "ack", links.Request{Alert: ackAlert, Device: ackDevice},
					"acknowledged the episode of alert "+ackAlert, "the episode of alert "+ackAlert+" is acknowledged already")
			}
			if ackAlert != "" {
				s, err := ack.open(cmd)
				if err != nil {
					return err
				}
				states := map[string]evaluator.State{}
				if ackDevice != "" {
					d, err := s.LoadDevice(cmd.Context(), ackDevice)
					if err != nil {
						return err
					}
					states[ackDevice] = d.State
				} else if states, err = s.States(cmd.Context()); err != nil {
					return err
				}
				found := false
				for id, st := range states {
					if r, u, ok := st.Alarm.FindAlert(ackAlert); ok {
						ackUser, ackDevice, ackRule, found = u, id, string(r), true
						break
					}
				}
				if !found {
					return fmt.Errorf("no open episode has an alert %s (its OPEN, or its latest OPEN, ESCALATE or REMIND): use --user, --device and --rule", ackAlert)
				}
			}
			rule, err := alarm.ParseRule(ackRule)
			if err != nil {
				return err
			}
			if ackServer != "" {
				return callRun(cmd, stdout, ackServer, "ack", links.Request{User: ackUser, Device: ackDevice, Rule: ackRule},
					fmt.Sprintf("acknowledged %s's %s episode on %s", ackUser, ackRule, ackDevice),
					fmt.Sprintf("%s has no open, unacknowledged %s episode on %s", ackUser, ackRule, ackDevice))
			}
			s, err := ack.open(cmd)
			if err != nil {
				return err
			}
			rec, err := ackTopic.recorder(cmd)
			if err != nil {
				return err
			}
			var ep *alarm.Episode
			changed, err := evaluator.Act(cmd.Context(), s, ackDevice, func(st *alarm.DeviceState) (bool, error) {
				ep = links.EpisodeOf(st, ackUser, alert.Rule(ackRule))
				return st.Ack(rule, ackUser), nil
			})
			if err != nil {
				return err
			}
			if !changed {
				return fmt.Errorf("%s has no open, unacknowledged %s episode on %s", ackUser, ackRule, ackDevice)
			}
			fmt.Fprintf(stdout, "acknowledged %s's %s episode on %s\n", ackUser, ackRule, ackDevice)
			return record(cmd, rec, links.Row(links.KindAck, ackUser, ackDevice, alert.Rule(ackRule), ep, now(), time.Time{}, "cli"))
		},
	}
	ack.add(ackCmd)
	ackTopic.add(ackCmd)
	ackCmd.Flags().StringVar(&ackAlert, "alert", "", "the id of an alert of the episode (its OPEN, or its latest alert), instead of --user --device --rule; with --device, one Query instead of a Scan")
	ackCmd.Flags().StringVar(&ackUser, "user", "", "user id")
	ackCmd.Flags().StringVar(&ackDevice, "device", "", "device id")
	ackCmd.Flags().StringVar(&ackRule, "rule", "", "rule (temperature_high, temperature_low, light_no_occupancy, temperature_anomaly, sensor_stuck, device_silent)")
	serverFlag(ackCmd, &ackServer)

	var snz storeFlags
	var snzUser, snzDevice, snzRule, snzUntil, snzServer string
	var snzTopic topicFlag
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
			if snzServer != "" {
				return callRun(cmd, stdout, snzServer, "snooze", links.Request{User: snzUser, Device: snzDevice, Rule: snzRule, Until: until},
					fmt.Sprintf("snoozed %s's %s on %s until %s", snzUser, ruleOrAll(snzRule), snzDevice, until.UTC().Format(time.RFC3339)), "")
			}
			s, err := snz.open(cmd)
			if err != nil {
				return err
			}
			if d, err := s.LoadDevice(cmd.Context(), snzDevice); err != nil {
				return err
			} else if !d.Watched() {
				return fmt.Errorf("device %s has no thresholds: nothing to snooze (a typing error?)", snzDevice)
			}
			rec, err := snzTopic.recorder(cmd)
			if err != nil {
				return err
			}
			var ep *alarm.Episode
			if _, err := evaluator.Act(cmd.Context(), s, snzDevice, func(st *alarm.DeviceState) (bool, error) {
				ep = links.EpisodeOf(st, snzUser, alert.Rule(snzRule))
				st.Snooze(snzUser, alert.Rule(snzRule), until)
				return true, nil
			}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "snoozed %s's %s on %s until %s\n", snzUser, ruleOrAll(snzRule), snzDevice, until.UTC().Format(time.RFC3339))
			return record(cmd, rec, links.Row(links.KindSnooze, snzUser, snzDevice, alert.Rule(snzRule), ep, now(), until, "cli"))
		},
	}
	snz.add(snoozeCmd)
	snzTopic.add(snoozeCmd)
	userDeviceRule(snoozeCmd, &snzUser, &snzDevice, &snzRule, false)
	snoozeCmd.Flags().DurationVar(&snzFor, "for", 0, "how long, e.g. 2h")
	snoozeCmd.Flags().StringVar(&snzUntil, "until", "", "until when (RFC 3339)")
	serverFlag(snoozeCmd, &snzServer)

	var unz storeFlags
	var unzUser, unzDevice, unzRule, unzServer string
	var unzTopic topicFlag
	unsnoozeCmd := &cobra.Command{
		Use:   "unsnooze --user U --device D [--rule R]",
		Short: "End a snooze",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if unzServer != "" {
				return callRun(cmd, stdout, unzServer, "unsnooze", links.Request{User: unzUser, Device: unzDevice, Rule: unzRule},
					fmt.Sprintf("unsnoozed %s's %s on %s", unzUser, ruleOrAll(unzRule), unzDevice),
					fmt.Sprintf("%s has no snooze of %s on %s", unzUser, ruleOrAll(unzRule), unzDevice))
			}
			s, err := unz.open(cmd)
			if err != nil {
				return err
			}
			rec, err := unzTopic.recorder(cmd)
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
			return record(cmd, rec, links.Row(links.KindUnsnooze, unzUser, unzDevice, alert.Rule(unzRule), nil, now(), time.Time{}, "cli"))
		},
	}
	unz.add(unsnoozeCmd)
	unzTopic.add(unsnoozeCmd)
	userDeviceRule(unsnoozeCmd, &unzUser, &unzDevice, &unzRule, false)
	serverFlag(unsnoozeCmd, &unzServer)

	var open storeFlags
	var openUser, openDevice, openServer string
	openCmd := &cobra.Command{
		Use:   "open [--user U] [--device D]",
		Short: "List open episodes with their state (acknowledged, snoozed until); every device's without --device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if openServer != "" {
				return openFromRun(cmd, stdout, openServer, openUser, openDevice)
			}
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
			return printEpisodes(stdout, links.OpenEpisodes(states, openUser, "", now()))
		},
	}
	open.add(openCmd)
	openCmd.Flags().StringVar(&openUser, "user", "", "only this user's episodes")
	openCmd.Flags().StringVar(&openDevice, "device", "", "only this device (one Query instead of a Scan)")
	serverFlag(openCmd, &openServer)

	cmd.AddCommand(ackCmd, snoozeCmd, unsnoozeCmd, openCmd)
	return cmd
}

func userDeviceRule(cmd *cobra.Command, user, device, rule *string, ruleRequired bool) {
	cmd.Flags().StringVar(user, "user", "", "user id")
	cmd.Flags().StringVar(device, "device", "", "device id")
	cmd.Flags().StringVar(rule, "rule", "", "rule (temperature_high, temperature_low, light_no_occupancy, temperature_anomaly, sensor_stuck, device_silent)")
	requireFlags(cmd, "user", "device")
	if ruleRequired {
		requireFlags(cmd, "rule")
	}
}

func ruleOrAll(rule string) string {
	if rule == "" {
		return "every rule"
	}
	return rule
}

func serverFlag(cmd *cobra.Command, server *string) {
	cmd.Flags().StringVar(server, "server", "", "a running `iotwatch run --http ADDR` (http://ADDR) instead of the table")
}

// callRun sends an action to a running `iotwatch run`'s control API.
func callRun(cmd *cobra.Command, stdout io.Writer, server, action string, req links.Request, done, unchanged string) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimSuffix(server, "/")+"/api/"+action, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return fmt.Errorf("reaching iotwatch run at %s: %w", server, err)
	}
	defer res.Body.Close()
	var out struct {
		Changed bool   `json:"changed"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("iotwatch run at %s answered %s", server, res.Status)
	}
	if out.Error != "" {
		return fmt.Errorf("iotwatch run: %s", out.Error)
	}
	if !out.Changed && unchanged != "" {
		return errors.New(unchanged)
	}
	fmt.Fprintln(stdout, done)
	return nil
}

// openFromRun lists a running `iotwatch run`'s open episodes.
func openFromRun(cmd *cobra.Command, stdout io.Writer, server, user, device string) error {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	if device != "" {
		q.Set("device", device)
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimSuffix(server, "/")+"/api/open?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reaching iotwatch run at %s: %w", server, err)
	}
	defer res.Body.Close()
	var eps []links.Episode
	if err := json.NewDecoder(res.Body).Decode(&eps); err != nil {
		return fmt.Errorf("iotwatch run at %s answered %s", server, res.Status)
	}
	return printEpisodes(stdout, eps)
}

// printEpisodes prints open episodes as a table, from the table or from a running run.
func printEpisodes(stdout io.Writer, eps []links.Episode) error {
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tUSER\tRULE\tSEVERITY\tSINCE\tLAST NOTICE\tACKNOWLEDGED\tSNOOZED UNTIL")
	for _, e := range eps {
		until := "-"
		if e.SnoozedUntil != nil {
			until = e.SnoozedUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Device, e.User, e.Rule, e.Severity, e.Since.Format(time.RFC3339),
			e.LastNotice.Format(time.RFC3339), map[bool]string{true: "yes", false: "no"}[e.Acked], until)
	}
	return tw.Flush()
}

// topicFlag is the alerts topic an action taken on the table is recorded through (the lake's
// subscription keeps it as a row; users' subscriptions do not take it).
type topicFlag struct{ topic, endpoint string }

func (f *topicFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.topic, "topic", os.Getenv("IOTWATCH_TOPIC"), "alerts topic ARN, where the action is recorded for the lake (the stack output AlertsTopicArn; default $IOTWATCH_TOPIC)")
	cmd.Flags().StringVar(&f.endpoint, "sns-endpoint", "", "SNS endpoint URL (an emulator)")
}

func (f *topicFlag) recorder(cmd *cobra.Command) (links.Recorder, error) {
	if f.topic == "" {
		return nil, fmt.Errorf("--topic is required with --table: every action is recorded in the lake (or set IOTWATCH_TOPIC)")
	}
	cfg, err := awsclient.Load(cmd.Context(), f.endpoint)
	if err != nil {
		return nil, err
	}
	return links.Published{Publisher: snsalerts.New(sns.NewFromConfig(cfg), f.topic)}, nil
}

// record writes the action's row; the action itself is done, so a failure says so plainly.
func record(cmd *cobra.Command, rec links.Recorder, row alert.Alert) error {
	if err := rec.Record(cmd.Context(), row); err != nil {
		return fmt.Errorf("done, but not recorded in the lake: %w", err)
	}
	return nil
}
