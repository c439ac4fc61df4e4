package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/kmsseal"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/local/filestore"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// sealerFor returns the sealer of the table's channels: KMS with the stack's channels key. The
// tests replace it with a local AES-GCM sealer, there being no KMS emulator.
var sealerFor = func(cfg aws.Config, key string) dynamostore.Sealer {
	return kmsseal.New(kms.NewFromConfig(cfg), key)
}

func newChannels(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "channels", Short: "Where a person's alerts go besides SNS: Slack, Teams, webhooks, PagerDuty",
		Long: `People's channels (docs/notify.md), on the table the notify function reads (--table, sealed
with the stack's channels KMS key --key) or in a local channels file, the one iotwatch run
--channels reads (--channels FILE). Targets and secrets are never printed: list shows them
redacted.`}
	cmd.AddCommand(newChannelsPut(stdout), newChannelsList(stdout), newChannelsDelete(stdout), newChannelsTest(stdout))
	return cmd
}

// channelsHome is where the channels are: the table (sealed) or a local channels file.
type channelsHome interface {
	put(ctx context.Context, chans []channel.Channel) error
	list(ctx context.Context, user string) ([]dynamostore.ListedChannel, error)
	load(ctx context.Context, user string) ([]channel.Channel, error)
	remove(ctx context.Context, user string, ids []string) error
}

type tableChannels struct {
	store *dynamostore.Store
	// sealer opens the KMS sealer when put or test needs it: list and delete decrypt nothing.
	sealer func() (dynamostore.Sealer, error)
}

func (t tableChannels) put(ctx context.Context, chans []channel.Channel) error {
	s, err := t.sealer()
	if err != nil {
		return err
	}
	return t.store.PutChannels(ctx, s, chans)
}

func (t tableChannels) list(ctx context.Context, user string) ([]dynamostore.ListedChannel, error) {
	if user == "" {
		return nil, errors.New("--user is required with --table (the channels live in a partition per user)")
	}
	return t.store.ListChannels(ctx, user)
}

func (t tableChannels) load(ctx context.Context, user string) ([]channel.Channel, error) {
	s, err := t.sealer()
	if err != nil {
		return nil, err
	}
	return t.store.LoadChannels(ctx, s, user)
}

func (t tableChannels) remove(ctx context.Context, user string, ids []string) error {
	return t.store.DeleteChannels(ctx, user, ids)
}

type fileChannels struct{ f filestore.ChannelsFile }

func (h fileChannels) put(ctx context.Context, chans []channel.Channel) error {
	return h.f.PutChannels(ctx, chans)
}

func (h fileChannels) list(ctx context.Context, user string) ([]dynamostore.ListedChannel, error) {
	chans, err := h.f.Channels(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]dynamostore.ListedChannel, len(chans))
	for i, c := range chans {
		out[i] = dynamostore.ListedChannel{ID: c.ID(), UserID: c.UserID, Kind: c.Kind, MinSeverity: c.MinSeverity,
			Redacted: c.Redacted(), HasSecret: c.Secret != ""}
	}
	return out, nil
}

func (h fileChannels) load(ctx context.Context, user string) ([]channel.Channel, error) {
	return h.f.Channels(ctx, user)
}

func (h fileChannels) remove(ctx context.Context, user string, ids []string) error {
	return h.f.DeleteChannels(ctx, user, ids)
}

// channelsTarget is the flags that choose the channels' home: --table (--endpoint, --key) or
// --channels FILE.
type channelsTarget struct {
	store storeFlags
	key   string
	file  string
}

func (t *channelsTarget) add(cmd *cobra.Command) {
	t.store.add(cmd)
	cmd.Flags().StringVar(&t.key, "key", os.Getenv("IOTWATCH_CHANNELS_KEY"), "with --table: the channels KMS key (the stack output ChannelsKeyArn; default $IOTWATCH_CHANNELS_KEY)")
	cmd.Flags().StringVar(&t.file, "channels", "", "a local channels file (the one iotwatch run --channels reads) instead of the table")
}

func (t *channelsTarget) open(cmd *cobra.Command) (channelsHome, string, error) {
	if t.file != "" {
		if cmd.Flags().Changed("table") || cmd.Flags().Changed("endpoint") || cmd.Flags().Changed("key") {
			return nil, "", errors.New("give --table (with --key) or --channels FILE, not both")
		}
		return fileChannels{filestore.ChannelsFile{Path: t.file}}, t.file, nil
	}
	s, err := t.store.open(cmd)
	if err != nil {
		return nil, "", fmt.Errorf("%w (or --channels FILE for a local channels file)", err)
	}
	sealer := func() (dynamostore.Sealer, error) {
		if t.key == "" {
			return nil, errors.New("--key is required with --table (the stack output ChannelsKeyArn, or set IOTWATCH_CHANNELS_KEY)")
		}
		cfg, err := awsclient.Load(cmd.Context(), "")
		if err != nil {
			return nil, err
		}
		return sealerFor(cfg, t.key), nil
	}
	return tableChannels{store: s, sealer: sealer}, t.store.table, nil
}

// channelFlags are one channel given on the command line, named as the channels file's columns.
type channelFlags struct {
	user, kind, target, minSeverity, secret string
}

func (f *channelFlags) add(cmd *cobra.Command, values bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "user_id")
	fl.StringVar(&f.kind, "channel", "", "email, sms, slack, teams, webhook or pagerduty")
	fl.StringVar(&f.target, "target", "", "the address, number, URL or PagerDuty routing key")
	if values {
		fl.StringVar(&f.minSeverity, "min-severity", "", "WARNING (default) or VIOLATION")
		fl.StringVar(&f.secret, "secret", "", "a webhook's HMAC key (16 characters or more; a file keeps it out of the shell's history)")
	}
}

func (f *channelFlags) given(cmd *cobra.Command) bool {
	for _, n := range []string{"channel", "target", "min-severity", "secret"} {
		if fl := cmd.Flags().Lookup(n); fl != nil && fl.Changed {
			return true
		}
	}
	return false
}

// channel returns the channel the flags give, validated as a file's line is, the problem named
// by its flag.
func (f *channelFlags) channel() (channel.Channel, error) {
	c := channel.Channel{UserID: f.user, Kind: channel.Kind(strings.ToLower(f.kind)), Target: f.target,
		MinSeverity: alert.Severity(strings.ToUpper(f.minSeverity)), Secret: f.secret}
	if field, err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid channel, nothing written:\n%s: %w", flagOf(field), err)
	}
	return c, nil
}

func newChannelsPut(stdout io.Writer) *cobra.Command {
	var target channelsTarget
	var flags channelFlags
	cmd := &cobra.Command{
		Use:   "put (FILE.csv | --user U --channel KIND --target T [--min-severity S] [--secret S]) (--table T --key K | --channels FILE)",
		Short: "Add or replace channels: a whole channels file (nothing written if any line is wrong) or one from flags",
		Long: `put writes channels over those of the same (user, channel, target); the others stay. The whole
input is validated first: a refusal names the line (or the flag) and the field, and writes
nothing. On the table, targets and secrets are sealed with the channels KMS key (kms:Encrypt).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var chans []channel.Channel
			switch {
			case len(args) == 1 && (flags.given(cmd) || cmd.Flags().Changed("user")):
				return errors.New("give a file or a channel's flags, not both")
			case len(args) == 1:
				var err error
				if chans, err = readCSV(args[0], "channels", "nothing written", channel.ParseCSV); err != nil {
					return err
				}
			default:
				c, err := flags.channel()
				if err != nil {
					return err
				}
				chans = []channel.Channel{c}
			}
			h, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := h.put(cmd.Context(), chans); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d channels to %s\n", len(chans), name)
			return nil
		},
	}
	target.add(cmd)
	flags.add(cmd, true)
	return cmd
}

func newChannelsList(stdout io.Writer) *cobra.Command {
	var target channelsTarget
	var user string
	cmd := &cobra.Command{
		Use:   "list [--user U] (--table T --user U | --channels FILE)",
		Short: "Print the channels, targets redacted and secrets hidden, with the ids delete takes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, _, err := target.open(cmd)
			if err != nil {
				return err
			}
			chans, err := h.list(cmd.Context(), user)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tCHANNEL\tTARGET\tMIN_SEVERITY\tSECRET\tID")
			for _, c := range chans {
				secret := "-"
				if c.HasSecret {
					secret = "***"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.UserID, c.Kind, c.Redacted, c.MinSeverity, secret, c.ID)
			}
			return tw.Flush()
		},
	}
	target.add(cmd)
	cmd.Flags().StringVar(&user, "user", "", "only this user's channels (required with --table)")
	return cmd
}

func newChannelsDelete(stdout io.Writer) *cobra.Command {
	var target channelsTarget
	var flags channelFlags
	var ids []string
	cmd := &cobra.Command{
		Use:   "delete --user U (--id ID ... | --channel KIND --target T) (--table T | --channels FILE)",
		Short: "Remove a user's channels: by the ids list prints, or one by its kind and target",
		Long:  `delete removes the channels given; if any of them is not there, nothing is deleted.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case len(ids) > 0 && flags.given(cmd):
				return errors.New("give --id or --channel and --target, not both")
			case len(ids) == 0:
				if flags.kind == "" || flags.target == "" {
					return errors.New("give --id ID (from list) or --channel KIND --target T")
				}
				c := channel.Channel{UserID: flags.user, Kind: channel.Kind(strings.ToLower(flags.kind)), Target: flags.target}
				ids = []string{c.ID()}
			}
			h, name, err := target.open(cmd)
			if err != nil {
				return err
			}
			if err := h.remove(cmd.Context(), flags.user, ids); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %d channels from %s\n", len(ids), name)
			return nil
		},
	}
	target.add(cmd)
	flags.add(cmd, false)
	cmd.Flags().StringSliceVar(&ids, "id", nil, "a channel's id, as list prints it (repeatable)")
	requireFlags(cmd, "user")
	return cmd
}

func newChannelsTest(stdout io.Writer) *cobra.Command {
	var target channelsTarget
	var flags channelFlags
	var pagerDutyURL string
	cmd := &cobra.Command{
		Use:   "test --user U [--channel KIND] [--target T [--secret S]] [--pagerduty-url URL] (--table T --key K | --channels FILE)",
		Short: "Send one marked test message to a user's channels (or to the one --target names) and print the answers",
		Long: `test sends one message marked as a test (a webhook's carries X-Iotwatch-Test: true; a PagerDuty
test triggers an event at severity info and resolves it at once) to each of the user's stored
channels (of kind --channel when given), or to the channel --channel and --target give without
storing it; once, no retry, no dead letter. It prints each answer's status and the start of its
body. On the table the targets are opened with the channels key (kms:Decrypt). Email and SMS go
through SNS subscriptions: they are not tested here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var chans []channel.Channel
			if flags.target != "" {
				c, err := flags.channel()
				if err != nil {
					return err
				}
				chans = []channel.Channel{c}
			} else {
				h, _, err := target.open(cmd)
				if err != nil {
					return err
				}
				all, err := h.load(cmd.Context(), flags.user)
				if err != nil {
					return err
				}
				for _, c := range all {
					if flags.kind == "" || string(c.Kind) == strings.ToLower(flags.kind) {
						chans = append(chans, c)
					}
				}
				if len(chans) == 0 {
					return fmt.Errorf("user %s has no channel to test", flags.user)
				}
			}
			n, err := notify.New(notify.Config{DeadLetter: noDeadLetter{}, PagerDutyURL: pagerDutyURL})
			if err != nil {
				return err
			}
			var failed []error
			for _, c := range chans {
				ans, err := n.Test(cmd.Context(), c)
				switch {
				case err != nil && ans.Status == 0:
					fmt.Fprintf(stdout, "%s %s: no answer: %v\n", c.Kind, c.Redacted(), err)
				default:
					fmt.Fprintf(stdout, "%s %s: HTTP %d %s\n", c.Kind, c.Redacted(), ans.Status, strings.TrimSpace(ans.Body))
				}
				if err != nil {
					failed = append(failed, fmt.Errorf("%s %s", c.Kind, c.Redacted()))
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d channels failed the test: %w", len(failed), len(chans), errors.Join(failed...))
			}
			return nil
		},
	}
	target.add(cmd)
	flags.add(cmd, true)
	cmd.Flags().StringVar(&pagerDutyURL, "pagerduty-url", notify.DefaultPagerDutyURL, "the PagerDuty Events API v2 endpoint")
	requireFlags(cmd, "user")
	return cmd
}

// noDeadLetter is the dead letter of a test: Test never uses one.
type noDeadLetter struct{}

func (noDeadLetter) Put(context.Context, notify.Failed, string) error {
	return errors.New("a test keeps no dead letter")
}
