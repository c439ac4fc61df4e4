package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/kinesisput"
	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/tools/replay"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// quarantineFlags choose the records: where the quarantine is, and which.
type quarantineFlags struct {
	lake, bucket, endpoint string
	from, to               string
	filter                 replay.Filter
}

func (q *quarantineFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&q.lake, "lake", "", "a local lake directory")
	f.StringVar(&q.bucket, "bucket", "", "or the stack's lake bucket (stack output LakeBucket)")
	f.StringVar(&q.endpoint, "endpoint", "", "S3 endpoint URL (an emulator); default: the standard AWS configuration")
	f.StringVar(&q.from, "from", "", "arrival from (a day, an hour or RFC 3339; default 7 days before --to)")
	f.StringVar(&q.to, "to", "", "arrival before (default: the next hour)")
	f.StringVar(&q.filter.Reason, "reason", "", "only this reason (malformed_json, bad_metric, …)")
	f.StringVar(&q.filter.Device, "device", "", "only this device (the topic's, or the message's device_id, as quarantined)")
}

// read reads the chosen records.
func (q *quarantineFlags) read(cmd *cobra.Command) ([]replay.Record, error) {
	end := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	var err error
	if q.to != "" {
		if end, err = parseWhen("to", q.to); err != nil {
			return nil, err
		}
	}
	start := end.Add(-7 * 24 * time.Hour)
	if q.from != "" {
		if start, err = parseWhen("from", q.from); err != nil {
			return nil, err
		}
	}
	q.filter.From, q.filter.To = start, end
	var src replay.Source
	switch {
	case q.lake != "" && q.bucket == "":
		src = replay.Dir{Root: q.lake}
	case q.bucket != "" && q.lake == "":
		cfg, err := awsclient.Load(cmd.Context(), q.endpoint)
		if err != nil {
			return nil, err
		}
		src = s3quarantine.NewReader(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = q.endpoint != "" }), q.bucket)
	default:
		return nil, fmt.Errorf("give --lake DIR or --bucket NAME")
	}
	return replay.Read(cmd.Context(), src, q.filter)
}

func newQuarantine(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine list|show|replay",
		Short: "What was quarantined, and sending it again (optionally mended by a jq program)",
	}
	var listQ, showQ, replayQ quarantineFlags
	list := &cobra.Command{
		Use:   "list (--lake DIR | --bucket NAME) [--from --to] [--reason R] [--device D]",
		Short: "One line per quarantined record: arrival, reason, device, size, detail, the text",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, err := listQ.read(cmd)
			if err != nil {
				return err
			}
			if err := replay.Listing(stdout, recs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d records, %s to %s\n", len(recs), listQ.filter.From.Format(time.RFC3339), listQ.filter.To.Format(time.RFC3339))
			return nil
		},
	}
	listQ.add(list)
	show := &cobra.Command{
		Use:   "show (--lake DIR | --bucket NAME) [--from --to] [--reason R] [--device D]",
		Short: "The records whole, as JSON lines (their bytes as data_base64, and as data when they are text)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, err := showQ.read(cmd)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			for _, r := range recs {
				if err := enc.Encode(struct {
					Object string `json:"object"`
					Line   int    `json:"line"`
					lakeRejected
				}{r.Key, r.Line, r.Rejected}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	showQ.add(show)
	var fix, stream, kinesisEndpoint string
	var dryRun bool
	var mqtt simulate.Options
	rep := &cobra.Command{
		Use:   "replay (--lake DIR | --bucket NAME) [--from --to] [--reason R] [--device D] [--fix 'JQ'] [--dry-run] (--broker ADDR | --stream NAME)",
		Short: "Send quarantined records to the stream again, as their devices would have; the pipeline validates them again",
		Long: `replay sends the chosen records again: to a local run's broker (--broker, MQTT QoS 1 on
devices/{device}/readings, each acknowledged) or to the stack's Kinesis stream (--stream, PutRecords
keyed by device, refused entries sent again). --fix is a jq program (gojq) applied to each message
first: its input is the message as JSON, or as a JSON string when it is not JSON; its one output is
sent; empty leaves the record. The pipeline validates what arrives as it validates any reading:
what still fails is quarantined again, with its reason then. The records stay in the quarantine
(a replay is not a move); a reading replayed twice is a duplicate the evaluation drops.
--dry-run prints what would be sent, and sends nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f *replay.Fix
			if fix != "" {
				var err error
				if f, err = replay.CompileFix(fix); err != nil {
					return err
				}
			}
			var sink replay.Sink
			switch {
			case dryRun:
			case mqtt.Broker != "" && stream == "":
				sink = replay.MQTT{Options: mqtt}
			case stream != "" && mqtt.Broker == "":
				cfg, err := awsclient.Load(cmd.Context(), kinesisEndpoint)
				if err != nil {
					return err
				}
				kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.HTTPClient = kinesisput.Buffered(o.HTTPClient) })
				sink = kinesisSink{kinesisput.New(kc, stream)}
			default:
				return fmt.Errorf("give --broker ADDR (a local run) or --stream NAME (Kinesis), or --dry-run")
			}
			recs, err := replayQ.read(cmd)
			if err != nil {
				return err
			}
			plan := replay.Prepare(cmd.Context(), recs, f)
			for _, s := range plan.Skip {
				// Escaped as list's lines are: a fix's error value is often the record's own bytes.
				fmt.Fprintf(stdout, "left   %s:%d  %s: %s\n", replay.Text([]byte(s.Record.Key), 200), s.Record.Line,
					replay.Text([]byte(s.Record.Reason), 40), replay.Text([]byte(s.Why), 300))
			}
			if dryRun {
				for _, m := range plan.Send {
					fmt.Fprintf(stdout, "would send  %-16s %s\n", m.Device, replay.Text(m.Data, 200))
				}
				fmt.Fprintf(stdout, "dry run: %d of %d records would be sent, %d left\n", len(plan.Send), len(recs), len(plan.Skip))
				return nil
			}
			sent, err := sink.Send(cmd.Context(), plan.Send)
			fmt.Fprintf(stdout, "sent %d of %d records (%d left); the pipeline validates them again\n", sent, len(recs), len(plan.Skip))
			if err != nil {
				return fmt.Errorf("replaying: %w", err)
			}
			return nil
		},
	}
	replayQ.add(rep)
	rf := rep.Flags()
	rf.StringVar(&fix, "fix", "", "a jq program applied to each message before it is sent")
	rf.BoolVar(&dryRun, "dry-run", false, "print what would be sent; send nothing")
	rf.StringVar(&mqtt.Broker, "broker", "", "a local run's MQTT address (with --tls, one device's records with its own certificate: --device)")
	rf.BoolVar(&mqtt.TLS, "tls", false, "MQTT over TLS (--cert, --key, --ca)")
	rf.StringVar(&mqtt.Cert, "cert", "", "client certificate (PEM)")
	rf.StringVar(&mqtt.Key, "key", "", "its private key (PEM)")
	rf.StringVar(&mqtt.CA, "ca", "", "the broker's CA (PEM)")
	rf.StringVar(&mqtt.ClientID, "client-id", "", "MQTT client id (default: the certificate's name)")
	rf.StringVar(&stream, "stream", "", "the stack's Kinesis stream (stack output StreamName)")
	rf.StringVar(&kinesisEndpoint, "kinesis-endpoint", "", "Kinesis endpoint URL (an emulator); default: the standard AWS configuration")
	cmd.AddCommand(list, show, rep)
	return cmd
}

// lakeRejected is a quarantine record, embedded in show's lines.
type lakeRejected = lake.Rejected

// kinesisSink puts replayed messages on the stream, keyed by device as the IoT rule keys them.
type kinesisSink struct{ p *kinesisput.Putter }

func (k kinesisSink) Send(ctx context.Context, msgs []replay.Message) (int, error) {
	entries := make([]kinesisput.Entry, len(msgs))
	for i, m := range msgs {
		entries[i] = kinesisput.Entry{PartitionKey: m.Device, Data: m.Data}
	}
	return k.p.Put(ctx, entries)
}
