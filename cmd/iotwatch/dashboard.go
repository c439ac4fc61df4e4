package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/local/broker"
	"github.com/iotwatch/iotwatch/shared/local/dashboard"
	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/local/lakeview"
)

// openPages opens the pages of an existing lake (cfg.Lake), with the devices, thresholds, rules
// and metrics files (read once).
func openPages(ctx context.Context, cfg dashboard.Config, devicesPath, thresholdsPath, rulesPath, metricsPath string) (*dashboard.Server, error) {
	if _, err := os.Stat(cfg.Lake); err != nil {
		return nil, fmt.Errorf("the lake: %w", err)
	}
	files, err := readLocalFilesWith(metricsPath, thresholdsPath, rulesPath, devicesPath)
	if err != nil {
		return nil, err
	}
	cfg.Devices, cfg.Rules = files.devices, lakeview.StaticRules(files.devices, files.configs, files.rows)
	cfg.Catalog = lakeview.StaticCatalog(files.catalog)
	return dashboard.New(ctx, cfg)
}

func newServe(stderr io.Writer) *cobra.Command {
	var lakeDir, addr, devicesPath, thresholdsPath, rulesPath, metricsPath, tlsCert, tlsKey, addrFile string
	cmd := &cobra.Command{
		Use:   "serve --lake DIR [--http 127.0.0.1:8080] [--devices FILE] [--thresholds FILE] [--rules FILE]",
		Short: "Serve the dashboard of a local lake: overview, devices, alerts, heatmap, pipeline",
		Long: `serve answers the pages of a lake in a browser: every device's last reading and health, a
device's charts (raw readings up to a day, hourly minimum, average and maximum beyond) with its
users' thresholds (from --thresholds and --rules, read once at the start) and its alert episodes, the alerts' timeline with filters, a heatmap of
locations by hour, and what the pipeline quarantined and aggregated. It reads the lake only
(iotwatch run --http serves the same pages live, with acknowledge and snooze buttons).

It listens on loopback unless --tls-cert and --tls-key are given. A lake whose readings end
hours ago (recordings, a stopped run) is shown up to its last reading.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var tlsCfg *tls.Config
			if tlsCert != "" || tlsKey != "" {
				cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
				if err != nil {
					return fmt.Errorf("loading --tls-cert and --tls-key: %w", err)
				}
				tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			} else if !broker.Loopback(addr) {
				return fmt.Errorf("--http %s: refusing to serve the network without TLS: give --tls-cert and --tls-key, or listen on 127.0.0.1", addr)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := openPages(ctx, dashboard.Config{Lake: lakeDir, Log: log, Loopback: tlsCfg == nil}, devicesPath, thresholdsPath, rulesPath, metricsPath)
			if err != nil {
				return err
			}
			defer func() { _ = srv.Close() }()
			if err := srv.Warm(ctx); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			scheme := "http"
			if tlsCfg != nil {
				ln, scheme = tls.NewListener(ln, tlsCfg), "https"
			}
			url := scheme + "://" + ln.Addr().String() + "/"
			fmt.Fprintf(stderr, "iotwatch serve: %s (lake %s; Ctrl-C stops)\n", url, lakeDir)
			if addrFile != "" {
				if err := durable.WriteFile(addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil { // whole or not at all: tests poll it
					return err
				}
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
				MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lakeDir, "lake", "", "lake directory")
	f.StringVar(&addr, "http", "127.0.0.1:8080", "listen address")
	f.StringVar(&devicesPath, "devices", "", "devices CSV (device_id,name,location): names, and the heatmap's locations")
	f.StringVar(&thresholdsPath, "thresholds", "", "thresholds CSV: drawn on the device charts")
	f.StringVar(&rulesPath, "rules", "", "rules file, long form (user_id,scope,metric,rule,…): drawn on the device charts, a location's rules for its devices (--devices)")
	f.StringVar(&metricsPath, "metrics", "", "metrics catalog (name,unit,min,max,floor): the declared metrics rules may name, charted on the device pages")
	f.StringVar(&tlsCert, "tls-cert", "", "certificate (PEM) for HTTPS; without it, loopback only")
	f.StringVar(&tlsKey, "tls-key", "", "its private key (PEM)")
	f.StringVar(&addrFile, "addr-file", "", "write the address there once it listens (with --http 127.0.0.1:0)")
	requireFlags(cmd, "lake")
	return cmd
}

// parseWhen reads a report bound: a day (2006-01-02), an hour (2006-01-02T15) or RFC 3339.
func parseWhen(flag, v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02T15", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a day (2026-03-01), an hour (2026-03-01T07) or an RFC 3339 time", flag, v)
}

func newReport(stdout io.Writer) *cobra.Command {
	var lakeDir, from, to, out, devicesPath, thresholdsPath, rulesPath, metricsPath string
	cmd := &cobra.Command{
		Use:   "report --lake DIR [--devices F] [--thresholds F] [--rules F] [--from DAY --to DAY] --out report.html",
		Short: "Write one self-contained HTML report of a lake: the fleet's health, alerts by rule, each device's charts and episodes",
		Long: `report writes one HTML file that opens with no network (the charts' code is inside it): the
fleet's health, alerts by rule and severity, and per device its charts over the range (hourly
minimum, average and maximum; every reading for a day or less), its thresholds and its episodes.
--from and --to default to the 7 days that end with the hour of the lake's last reading. Give
--devices and --thresholds (and --rules): without them the report has ids only, no names,
locations or thresholds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := openPages(cmd.Context(), dashboard.Config{Lake: lakeDir}, devicesPath, thresholdsPath, rulesPath, metricsPath)
			if err != nil {
				return err
			}
			defer func() { _ = srv.Close() }()
			// the end of the hour that holds the lake's last reading (or now, live)
			last, _ := srv.Clock()
			end := last.Truncate(time.Hour)
			if end.Before(last) {
				end = end.Add(time.Hour)
			}
			if to != "" {
				if end, err = parseWhen("to", to); err != nil {
					return err
				}
			}
			start := end.Add(-7 * 24 * time.Hour) // the 7 days before --to
			if from != "" {
				if start, err = parseWhen("from", from); err != nil {
					return err
				}
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := srv.Report(cmd.Context(), f, start, end); err != nil {
				f.Close()
				return fmt.Errorf("writing the report: %w", err)
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "report of %s to %s written to %s\n", start.Format(time.RFC3339), end.Format(time.RFC3339), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lakeDir, "lake", "", "lake directory")
	f.StringVar(&from, "from", "", "start (a day, an hour or RFC 3339; default 7 days before --to)")
	f.StringVar(&to, "to", "", "end, exclusive (default the end of the hour of the lake's last reading)")
	f.StringVar(&out, "out", "report.html", "the HTML file to write")
	f.StringVar(&devicesPath, "devices", "", "devices CSV: names and locations")
	f.StringVar(&thresholdsPath, "thresholds", "", "thresholds CSV: drawn on the charts")
	f.StringVar(&rulesPath, "rules", "", "rules file, long form: drawn on the charts, a location's rules for its devices (--devices)")
	f.StringVar(&metricsPath, "metrics", "", "metrics catalog (name,unit,min,max,floor): the declared metrics rules may name, charted on the device pages")
	requireFlags(cmd, "lake")
	return cmd
}
