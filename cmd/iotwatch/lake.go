package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/local/duckdbengine"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

func newAggregate(stdout, stderr io.Writer) *cobra.Command {
	var lakeDir, from, to, devicesPath, metricsPath string
	var late int
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "aggregate --lake DIR --from YYYY-MM-DDTHH --to YYYY-MM-DDTHH [--metrics FILE.csv]",
		Short: "Write hourly aggregates of a local lake with DuckDB (the SQL Athena runs on AWS)",
		Long: `aggregate reads DIR/bronze and DIR/alerts and writes DIR/silver/readings/dt=…/hour=HH.parquet,
then DIR/gold/hourly_metrics/dt=…/hour=HH.parquet and the other gold tables, for every hour in
[--from, --to), at most 31 days a run, replacing what was there: running it twice gives the same
rows. With --metrics (the metrics catalog: name,unit,min,max,floor), silver checks and keeps the
declared metrics (silver_readings.metrics) and gold/hourly_metric_values and
gold/daily_metric_values aggregate them; a metric left out of the file is left out of the hours
rewritten, and comes back from bronze when declared again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromT, err := aggregate.ParseHour(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			toT, err := aggregate.ParseHour(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			hours, err := aggregate.BoundedRange(fromT, toT, aggregate.MaxCLIHours)
			if err != nil {
				return fmt.Errorf("--from, --to: %w", err)
			}
			if err := firstError(inRange("--interval", interval, time.Second, time.Hour), inRange("--late-hours", late, 0, 48)); err != nil {
				return err
			}
			catalog, err := readCatalog(metricsPath, "nothing aggregated")
			if err != nil {
				return err
			}
			e, err := duckdbengine.Open(cmd.Context(), lakeDir)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := setDevices(cmd.Context(), e, devicesPath); err != nil {
				return err
			}
			cfg := aggregate.DefaultConfig
			cfg.Interval, cfg.LateHours, cfg.Concurrency, cfg.Catalog = interval, late, 1, catalog
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			start := time.Now()
			res, err := aggregate.NewHandler(e, cfg, log, nil).Run(cmd.Context(), hours)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "aggregated %d hours (%s to %s): %d rows in %s\n", len(res.Hours), from, to, res.Rows, time.Since(start).Round(time.Millisecond))
			if len(res.Days) > 0 {
				fmt.Fprintf(stdout, "daily_metrics: %d days (%s to %s)\n", len(res.Days), res.Days[0], res.Days[len(res.Days)-1])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&lakeDir, "lake", "", "lake directory (bronze/, alerts/, silver/, gold/)")
	cmd.Flags().StringVar(&devicesPath, "devices", "", "devices CSV (device_id,name,location): the locations of location_hourly")
	cmd.Flags().StringVar(&metricsPath, "metrics", "", "metrics catalog CSV (name,unit,min,max,floor): the metrics declared beyond the built-ins")
	cmd.Flags().StringVar(&from, "from", "", "first hour, YYYY-MM-DDTHH (UTC)")
	cmd.Flags().StringVar(&to, "to", "", "hour after the last, YYYY-MM-DDTHH (UTC)")
	cmd.Flags().IntVar(&late, "late-hours", aggregate.DefaultConfig.LateHours, "unused here: the late window of scheduled runs")
	cmd.Flags().DurationVar(&interval, "interval", aggregate.DefaultConfig.Interval, "devices' nominal reading interval (expected_readings = 1h / interval)")
	cmd.Flags().MarkHidden("late-hours")
	requireFlags(cmd, "lake", "from", "to")
	return cmd
}

func newQuery(stdout io.Writer) *cobra.Command {
	var lakeDir, format, devicesPath string
	cmd := &cobra.Command{
		Use:   `query --lake DIR [--devices FILE.csv] [--format table|csv|jsonl] "SQL"`,
		Short: "Run SQL on a local lake: bronze_readings, alerts, silver_readings, hourly_metrics, daily_metrics, dq_hourly, location_hourly, hourly_metric_values, daily_metric_values, devices, as on Athena",
		Long: `query runs one SELECT on a local lake, on the tables Athena has: bronze_readings, alerts,
silver_readings, hourly_metrics, daily_metrics, dq_hourly, location_hourly, hourly_metric_values,
daily_metric_values and devices (from --devices). A declared metric of silver reads as on Athena:
element_at(metrics, 'pm25') (NULL for a reading without it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "table", "csv", "jsonl":
			default:
				return fmt.Errorf("--format %q: want table, csv or jsonl", format)
			}
			e, err := duckdbengine.OpenReadOnly(cmd.Context(), lakeDir)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := setDevices(cmd.Context(), e, devicesPath); err != nil {
				return err
			}
			rows, err := e.Query(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer rows.Close()
			return printRows(stdout, rows, format)
		},
	}
	cmd.Flags().StringVar(&lakeDir, "lake", "", "lake directory")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or jsonl")
	cmd.Flags().StringVar(&devicesPath, "devices", "", "devices CSV (device_id,name,location): the devices table (on AWS the snapshot `devices put --bucket` writes)")
	requireFlags(cmd, "lake")
	return cmd
}

func printRows(w io.Writer, rows *sql.Rows, format string) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// Timestamps print one way, RFC 3339 in UTC to the second (2015-02-03T10:00:00Z), whether the
	// engine gives a TIMESTAMP (hour_start) or the lake holds the text of one (alerts' alert_time,
	// as the alert JSON has it, to the nanosecond when it has a fraction): in a table, a text that
	// is a UTC RFC 3339 time is shown so too; csv and jsonl keep texts as they are.
	text := func(v any) string {
		switch x := v.(type) {
		case nil:
			return ""
		case time.Time:
			return x.UTC().Format(time.RFC3339)
		case string:
			if format == "table" && strings.HasSuffix(x, "Z") && len(x) >= len("2006-01-02T15:04:05Z") {
				if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
					return t.UTC().Format(time.RFC3339)
				}
			}
			return x
		case []byte:
			return string(x)
		case float64:
			return fmt.Sprintf("%.6g", x)
		case json.Marshaler: // a map (silver's metrics) as JSON text: {"pm25":12.5}
			if b, err := x.MarshalJSON(); err == nil {
				return string(b)
			}
		}
		return fmt.Sprint(v)
	}
	var tw *tabwriter.Writer
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	switch format {
	case "table":
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write(cols)
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		n++
		switch format {
		case "table":
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = text(v)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		case "csv":
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = text(v)
			}
			cw.Write(cells)
		case "jsonl":
			obj := make(map[string]any, len(cols))
			for i, c := range cols {
				if t, ok := vals[i].(time.Time); ok {
					obj[c] = t.UTC().Format(time.RFC3339)
				} else {
					obj[c] = vals[i]
				}
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	switch format {
	case "table":
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "(%d rows)\n", n)
	case "csv":
		cw.Flush()
		return cw.Error()
	}
	return nil
}

// setDevices gives the engine the devices file's names and locations (none without a file).
func setDevices(ctx context.Context, e *duckdbengine.Engine, path string) error {
	files, err := readLocalFiles("", "", path)
	if err != nil {
		return fmt.Errorf("--devices: %w", err)
	}
	return e.SetDevices(ctx, files.devices)
}
