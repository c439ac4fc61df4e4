package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/local/lakelock"
	"github.com/iotwatch/iotwatch/shared/local/pki"
	"github.com/iotwatch/iotwatch/shared/local/runner"
	"github.com/iotwatch/iotwatch/shared/local/stream"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/service/notify"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

func newRun(stdout, stderr io.Writer) *cobra.Command {
	var cfg runner.Config
	var quiet bool
	var addrFile, configFile, tlsCert, tlsKey, clientCA, revoked string
	cmd := &cobra.Command{
		Use:   "run --lake DIR --thresholds FILE.csv [--mqtt 127.0.0.1:1883]",
		Short: "Run the whole pipeline on this machine: MQTT broker, evaluation, lake, hourly aggregation",
		Long: `run starts an MQTT broker, applies the topic rule (devices/+/readings), feeds an in-process
stream to the evaluate function's handler, writes the lake under DIR (bronze/, alerts/,
quarantine/, errors/, state/, gold/) and aggregates the hours that received readings every
--aggregate-every and when it stops.

Every message is in the log (DIR/log, fsynced) before the broker acknowledges it: after a crash
or a power cut the next start evaluates and lands what the last one had not. At --max-log-bytes,
or with the disk full, the broker stops acknowledging (publishers send again) and says so.

--mqtt and --http listen on loopback only, unless TLS is set up: --tls-cert and --tls-key (the
server's), and --client-ca, the CA of the devices' certificates (iotwatch ca init, iotwatch device
register NAME --local). A device's certificate names it: it may publish to its own topic only.
A certificate on the deny list (--revoked, default revoked.csv beside --client-ca; iotwatch device
revoke NAME) is refused, and the list is read again within a second of a change.

SIGINT or SIGTERM stops it: it stops accepting, drains the log (printing progress; a second
Ctrl-C stops at once, leaving the rest in the log for the next start), flushes every buffer,
aggregates, prints a summary and exits 0, or 2 when some of that work could not be done (a lake
write or an aggregation that failed, records given up).

--channels FILE.csv sends the alerts to people's Slack, Teams, webhooks and PagerDuty
(docs/notify.md): through a queue on disk (DIR/notify/outbox), in the background, so that a slow
or down channel never slows the evaluation; dead letters in DIR/notify-failed/. A stop waits
--notify-drain for the deliveries; what is left is delivered after the next start. Email and SMS
channels (SNS) are AWS only: this run skips them, with one warning each.

--config FILE.toml sets any flag (its name without the dashes); the command line wins.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := applyConfig(configFile, cmd.Flags()); err != nil {
					return err
				}
			}
			if cfg.Lake == "" || cfg.Thresholds == "" && cfg.Rules == "" {
				return fmt.Errorf("--lake, and --thresholds or --rules (or both), are required (on the command line or in --config)")
			}
			if revoked != "" && clientCA == "" {
				return fmt.Errorf("--revoked needs TLS (--tls-cert, --tls-key and --client-ca)")
			}
			if tlsCert != "" || tlsKey != "" || clientCA != "" {
				if tlsCert == "" || tlsKey == "" || clientCA == "" {
					return fmt.Errorf("TLS needs --tls-cert, --tls-key and --client-ca together")
				}
				var err error
				if cfg.TLS, err = pki.BrokerTLS(tlsCert, tlsKey, clientCA); err != nil {
					return err
				}
				if revoked == "" {
					revoked = filepath.Join(filepath.Dir(clientCA), pki.RevokedFile)
				}
				list, err := pki.OpenDenyList(revoked)
				if err != nil {
					return fmt.Errorf("--revoked: %w", err)
				}
				cfg.Revoked = list
				// HTTPS with the same certificate; browsers bring no client certificate.
				cfg.HTTPTLS = cfg.TLS.Clone()
				cfg.HTTPTLS.ClientAuth, cfg.HTTPTLS.ClientCAs = tls.NoClientCert, nil
			}
			if err := cfg.Check(); err != nil { // before anything is opened or made on disk
				return err
			}
			_, statErr := os.Stat(cfg.Lake)
			newLake := errors.Is(statErr, os.ErrNotExist)
			// The first SIGINT or SIGTERM drains; a second stops at once (both caught from the
			// start, so that none is lost between the two).
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			abort, finished := make(chan struct{}), make(chan struct{})
			defer close(finished)
			cfg.Abort = abort
			go func() {
				select {
				case <-sigs:
					cancel()
				case <-ctx.Done():
				case <-finished:
					return
				}
				select {
				case <-sigs:
					close(abort)
				case <-finished:
				}
			}()
			started := false
			defer func() {
				if !started && newLake { // a refused start leaves no lake behind: Run undid state/ and log/
					_ = os.Remove(filepath.Join(cfg.Lake, lakelock.FileName))
					_ = os.Remove(cfg.Lake) // only if empty
				}
			}()
			engine, err := duckdbengine.Open(ctx, cfg.Lake)
			if err != nil {
				return err
			}
			defer engine.Close()
			if err := setDevices(ctx, engine, cfg.Devices); err != nil {
				return err
			}
			cfg.Aggregator = engine
			cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			cfg.Progress = stderr
			if !quiet {
				cfg.Alerts = stdout
			}
			cfg.Ready = func(addr string) {
				started = true
				fmt.Fprintf(stderr, "iotwatch run: MQTT on %s, lake %s (Ctrl-C stops)\n", addr, cfg.Lake)
				if addrFile != "" {
					if err := durable.WriteFile(addrFile, []byte(addr+"\n"), 0o644); err != nil { // whole or not at all: tests poll it
						fmt.Fprintln(stderr, "iotwatch run:", err)
					}
				}
			}
			sum, err := runner.Run(ctx, cfg)
			if started { // a refused start says only why
				fmt.Fprint(stderr, "iotwatch run: ", sum.String())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Lake, "lake", "", "lake directory")
	f.StringVar(&cfg.Thresholds, "thresholds", "", "thresholds CSV (re-read when it changes)")
	f.StringVar(&cfg.Rules, "rules", "", "the rules file, long form: user_id,scope,metric,rule,… (re-read when it changes; rules on any metric for a device, a location or the fleet)")
	f.StringVar(&cfg.Metrics, "metrics", "", "metrics catalog CSV: name,unit,min,max,floor (re-read when it changes; metrics beyond the built-ins that readings may carry and rules may name)")
	f.StringVar(&cfg.Users, "users", "", "users CSV: time zones and quiet hours (re-read when it changes)")
	f.StringVar(&cfg.Channels, "channels", "", "channels CSV: user_id,channel,target,min_severity,secret (re-read when it changes): alerts to Slack, Teams, webhooks and PagerDuty")
	f.StringVar(&cfg.Notify.PagerDutyURL, "pagerduty-url", notify.DefaultPagerDutyURL, "PagerDuty's Events API v2 endpoint")
	f.DurationVar(&cfg.NotifyDrain, "notify-drain", runner.DefaultNotifyDrain, "how long a stop waits for the channels' deliveries (the rest is kept for the next start)")
	f.StringVar(&cfg.HTTP, "http", "", "serve the alerts' one-click links (acknowledge, snooze) on this address, e.g. 127.0.0.1:8080")
	f.BoolVar(&cfg.PagesOnNetwork, "pages-on-network", false, "serve the dashboard's pages (read-only) on a network --http address too: they have no login")
	f.StringVar(&cfg.LinkBase, "link-base", "", "the URL people reach --http at, for the links in alerts (default http://ADDR)")
	f.StringVar(&cfg.Devices, "devices", "", "devices CSV (device_id,name,location), for alert texts")
	f.StringVar(&cfg.MQTT, "mqtt", broker.DefaultAddr, "MQTT listen address")
	f.IntVar(&cfg.Stream.Shards, "shards", stream.DefaultShards, "stream shards, 1 to 64 (parallel evaluation; one device stays on one shard)")
	f.IntVar(&cfg.Stream.BatchSize, "batch-size", stream.DefaultBatchSize, "records per evaluation batch, 1 to 10000")
	f.DurationVar(&cfg.Stream.BatchWindow, "batch-window", stream.DefaultBatchWindow, "longest wait to fill a batch, 1ms to 5m")
	f.DurationVar(&cfg.AggregateEvery, "aggregate-every", time.Hour, "how often to aggregate the hours that received readings, 1m to 24h (0: only at the end)")
	f.DurationVar(&cfg.Interval, "interval", aggregate.DefaultConfig.Interval, "devices' nominal reading interval, 1s to 1h")
	f.StringVar(&cfg.Clock, "clock", runner.ClockWall, "the silence rule's clock: wall, or watermark (the latest event time applied) to replay old data")
	f.BoolVar(&quiet, "quiet", false, "do not print alerts (progress and the summary still go to standard error)")
	f.StringVar(&addrFile, "addr-file", "", "write the broker's address there once it accepts connections (with --mqtt 127.0.0.1:0)")
	f.StringVar(&configFile, "config", "", "TOML file setting any of these flags (name without dashes); the command line wins")
	f.Int64Var(&cfg.MaxLogBytes, "max-log-bytes", 0, "cap of the log on disk in bytes, at least 264208 (0: the disk); at the cap the broker stops acknowledging")
	f.BoolVar(&cfg.RepairLog, "repair-log", false, "start on a damaged log or alarm-state journal (refused otherwise): keep the damaged segment aside, go on from what is readable, and log what was lost")
	f.StringVar(&tlsCert, "tls-cert", "", "server certificate (PEM) for MQTT over TLS and HTTPS (iotwatch ca init writes server.pem)")
	f.StringVar(&tlsKey, "tls-key", "", "its private key (PEM)")
	f.StringVar(&clientCA, "client-ca", "", "CA of the devices' client certificates (PEM): required with TLS")
	f.StringVar(&revoked, "revoked", "", "the deny list of device certificates (iotwatch device revoke; default revoked.csv beside --client-ca; read again when it changes)")
	return cmd
}

// maxSimulatedDevices bounds simulate --devices: each replays the whole CSV with its own reader.
const maxSimulatedDevices = 10000

func newSimulate(stdout, stderr io.Writer) *cobra.Command {
	var o simulate.Options
	var readings, csvFile string
	var devices int
	var rebase bool
	var anomalies float64
	var seed uint64
	var batch int
	cmd := &cobra.Command{
		Use:   "simulate --broker HOST:PORT (--readings FILE.jsonl | --csv FILE --devices N) [--batch N]",
		Short: "Publish recorded readings as devices would: QoS 1, each on its device's topic",
		Long: `simulate publishes each JSON line unchanged, in order, at QoS 1 on devices/{device_id}/readings
(devices/_/readings when the line has no readable device id) and waits for every acknowledgement.
--csv replays the UCI occupancy format as N devices (room-1 … room-N). --batch N sends each
device's readings N to a message ({"device_id":…,"readings":[…]}), as a device that buffers them
does; --rate then still counts readings. For AWS IoT Core use --tls
with --cert, --key, --ca, the IoTDataEndpoint:8883 as --broker and the thing name as --client-id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := firstError(inRange("--devices", devices, 1, maxSimulatedDevices), inRange("--rate", o.Rate, 0, 1e6),
				inRange("--batch", batch, 1, reading.MaxBatch), inRange("--anomalies", anomalies, 0, 1),
				inRange("--inflight", o.Inflight, 1, 65535)); err != nil {
				return err
			}
			var src simulate.Source
			switch {
			case readings != "" && csvFile == "":
				r := io.Reader(cmd.InOrStdin())
				if readings != "-" {
					f, err := os.Open(readings)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				src = simulate.NewLines(r)
			case csvFile != "" && readings == "":
				data, err := os.ReadFile(csvFile)
				if err != nil {
					return err
				}
				if src, err = simulate.NewDevices(data, csvFile, devices); err != nil {
					return err
				}
			default:
				return fmt.Errorf("give either --readings or --csv")
			}
			if rebase {
				src = &simulate.Rebase{Source: src}
			}
			src = &simulate.Warnings{Source: src, Warn: func(s string) { fmt.Fprintln(stderr, "simulate: "+s) }}
			var an *simulate.Anomalies
			if anomalies > 0 {
				an = simulate.NewAnomalies(src, anomalies, seed)
				src = an
			}
			var batches *simulate.Batches
			if batch > 1 {
				batches = &simulate.Batches{Source: src, N: batch}
				src = batches
				o.Rate /= float64(batch) // --rate counts readings
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := simulate.Publish(ctx, src, o)
			secs := res.Duration.Seconds()
			if secs == 0 {
				secs = 1e-9
			}
			fmt.Fprintf(stdout, "simulate: %d published, %d acknowledged in %s (%.0f/s)", res.Published, res.Acked, res.Duration.Round(time.Millisecond), float64(res.Acked)/secs)
			if batches != nil {
				fmt.Fprintf(stdout, ", %d readings in batches of up to %d", batches.Readings, batch)
			}
			if an != nil {
				fmt.Fprintf(stdout, ", anomalies %v", an.Counts)
			}
			fmt.Fprintln(stdout)
			if err != nil && err != context.Canceled {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Broker, "broker", "127.0.0.1:1883", "MQTT broker host:port")
	f.StringVar(&readings, "readings", "", "JSON lines to publish, - for standard input")
	f.StringVar(&csvFile, "csv", "", "UCI occupancy CSV to replay")
	f.IntVar(&devices, "devices", 1, "with --csv: as how many devices")
	f.Float64Var(&o.Rate, "rate", 0, "readings per second (0: as fast as possible)")
	f.IntVar(&batch, "batch", 1, "readings a message: each device's readings sent N to a message (at most 100)")
	f.BoolVar(&rebase, "rebase", false, "stamp each reading with the time it is sent (the recording's values and order, at the pace sent): a recording played as live")
	f.Float64Var(&anomalies, "anomalies", 0, "fraction of messages turned into spikes, stuck values, dropouts and malformed messages")
	f.Uint64Var(&seed, "seed", 1, "seed of the anomalies")
	f.BoolVar(&o.TLS, "tls", false, "connect with TLS (AWS IoT Core: port 8883)")
	f.StringVar(&o.Cert, "cert", "", "client certificate (PEM)")
	f.StringVar(&o.Key, "key", "", "client private key (PEM)")
	f.StringVar(&o.CA, "ca", "", "CA certificate of the broker (PEM), e.g. AmazonRootCA1.pem")
	f.StringVar(&o.BasicIngest, "basic-ingest", "", "publish straight to this topic rule (AWS IoT Core's Basic Ingest, $aws/rules/RULE/devices/{id}/readings: no messaging charge; stack output BasicIngestRule)")
	f.StringVar(&o.ClientID, "client-id", "", "MQTT client id (AWS IoT Core: the thing name; default with --tls: the certificate's common name, as iotwatch run requires)")
	f.IntVar(&o.Inflight, "inflight", 256, "unacknowledged messages at most")
	return cmd
}
