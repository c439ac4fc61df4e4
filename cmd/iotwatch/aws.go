package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/iotdevice"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/local/pki"
)

func newDevice(stdout io.Writer) *cobra.Command {
	cmd := newDevices(stdout)
	var policy, dir, endpoint, caDir string
	var local, force bool
	var days int
	register := &cobra.Command{
		Use:   "register NAME (--policy POLICY [--dir DIR] | --local --ca DIR)",
		Short: "Create an IoT thing and certificate for a device and write its credentials",
		Long: `register creates the thing NAME (the device id), an active certificate, attaches the stack's
device policy (stack output DevicePolicyName) and the certificate to the thing, and writes
DIR/NAME.cert.pem and DIR/NAME.private.key. The device then connects to the stack's IoT endpoint
with client id NAME and publishes on devices/NAME/readings.

With --local it issues instead a client certificate for iotwatch run from the local CA
(iotwatch ca init): CA/devices/NAME.pem and NAME-key.pem, common name NAME. A device with a
certificate already is refused unless --force: then its old certificate goes on the deny list
(CA/revoked.csv, which a running iotwatch run reads within a second) and a new one is issued.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if local {
				if err := inRange("--days", days, 1, int(pki.CALifetime/(24*time.Hour))); err != nil {
					return err
				}
				if caDir == "" {
					return fmt.Errorf("--local needs --ca DIR (iotwatch ca init --dir DIR creates one)")
				}
				return registerLocal(stdout, caDir, args[0], time.Duration(days)*24*time.Hour, force)
			}
			if policy == "" {
				return fmt.Errorf("--policy is required (stack output DevicePolicyName), or --local --ca DIR")
			}
			cfg, err := awsclient.Load(cmd.Context(), endpoint)
			if err != nil {
				return err
			}
			reg, err := iotdevice.Register(cmd.Context(), iot.NewFromConfig(cfg), args[0], policy, dir)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(reg); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\nConnect with: iotwatch simulate --broker %s:8883 --tls --cert %s --key %s --ca AmazonRootCA1.pem ...\n",
				reg.Endpoint, reg.CertFile, reg.KeyFile)
			return nil
		},
	}
	register.Flags().StringVar(&policy, "policy", "", "IoT policy to attach (stack output DevicePolicyName)")
	register.Flags().StringVar(&dir, "dir", ".", "where to write NAME.cert.pem and NAME.private.key")
	register.Flags().StringVar(&endpoint, "endpoint", "", "IoT API endpoint URL (an emulator); default: the standard AWS configuration")
	register.Flags().BoolVar(&local, "local", false, "issue a certificate from the local CA for iotwatch run, not AWS IoT Core")
	register.Flags().StringVar(&caDir, "ca", "", "with --local: the CA directory (iotwatch ca init)")
	register.Flags().IntVar(&days, "days", int(pki.DeviceLifetime/(24*time.Hour)), "with --local: days the certificate is valid")
	register.Flags().BoolVar(&force, "force", false, "with --local: issue a new certificate for a device that has one, revoking the old one")
	cmd.AddCommand(register)
	cmd.AddCommand(newDeviceRevoke(stdout))
	cmd.Use, cmd.Aliases = "device", []string{"devices"}
	cmd.Short = "Register devices with IoT Core, and manage device metadata"
	return cmd
}

func newSubscribe(stdout io.Writer) *cobra.Command {
	var topic, user, emailAddr, phone, endpoint string
	var severities []string
	cmd := &cobra.Command{
		Use:   "subscribe --topic ARN --user U (--email ADDRESS | --sms +NUMBER) [--severity VIOLATION]",
		Short: "Send one user's alerts to an email address or a phone",
		Long: `subscribe adds a subscription to the alerts topic (stack output AlertsTopicArn) with a filter
policy on user_id, and on severity when given: the address receives that user's alerts only.
An email subscription must be confirmed from the message AWS sends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := snsalerts.Subscription{UserID: user, Severities: severities}
			switch {
			case emailAddr != "" && phone == "":
				s.Protocol, s.Endpoint = "email", emailAddr
			case phone != "" && emailAddr == "":
				s.Protocol, s.Endpoint = "sms", phone
			default:
				return fmt.Errorf("give either --email or --sms")
			}
			cfg, err := awsclient.Load(cmd.Context(), endpoint)
			if err != nil {
				return err
			}
			arn, err := snsalerts.Subscribe(cmd.Context(), sns.NewFromConfig(cfg), topic, s)
			if err != nil {
				return err
			}
			policy, _ := s.FilterPolicy()
			fmt.Fprintf(stdout, "subscribed %s %s to %s with filter %s: %s\n", s.Protocol, s.Endpoint, topic, policy, arn)
			return nil
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "alerts topic ARN (stack output AlertsTopicArn)")
	cmd.Flags().StringVar(&user, "user", "", "user id, as in the thresholds file")
	cmd.Flags().StringVar(&emailAddr, "email", "", "email address")
	cmd.Flags().StringVar(&phone, "sms", "", "phone number in E.164 form, e.g. +33612345678")
	cmd.Flags().StringSliceVar(&severities, "severity", nil, "only these severities (WARNING, VIOLATION); default both")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "SNS endpoint URL (an emulator); default: the standard AWS configuration")
	requireFlags(cmd, "topic", "user")
	return cmd
}
