// Command iotwatch is the project's CLI:
//
//	run        the whole pipeline on this machine (MQTT broker, evaluation, lake, aggregation)
//	simulate   publish recorded readings over MQTT, as devices would
//	backtest   what thresholds would have raised on recorded readings
//	aggregate  hourly aggregates of a local lake (DuckDB)
//	query      SQL over a local lake
//	serve      the dashboard of a local lake in a browser (overview, devices, alerts, heatmap, pipeline)
//	quarantine list/show/replay: what was quarantined, and sending it again (mended by jq)
//	report     one self-contained HTML file of a lake's week: charts, episodes, health, alerts
//	thresholds put/list/delete, devices put: the table the evaluate function reads
//	device register: a device's thing, certificate and policy in AWS IoT Core (or, --local, a
//	           certificate from the local CA)
//	ca init    the local CA and the broker's certificate, for run with TLS
//	subscribe  a user's alerts to an email address or phone number (SNS)
//	alerts ack/snooze/unsnooze/open: what people do to their open episodes (the table)
//	users put/list/delete: people's time zones and quiet hours (the table)
//	channels put/list/delete/test: people's Slack, Teams, webhook and PagerDuty channels (the
//	           table, sealed with KMS, or a local channels file)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code: 0 success, 1 the input had rejected readings
// (backtest), 2 any other failure: bad usage, bad input, or work left undone (a run that could
// not write the lake or aggregate).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "iotwatch:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 2
	}
	return 0
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "iotwatch",
		Short:         "iotwatch watches room sensors: thresholds, alerts, backtests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBacktest(stdin, stdout, stderr), newThresholds(stdout), newRules(stdout), newMetrics(stdout), newDevice(stdout),
		newAggregate(stdout, stderr), newQuery(stdout), newSubscribe(stdout), newRun(stdout, stderr), newSimulate(stdout, stderr),
		newAlerts(stdout, time.Now), newUsers(stdout), newCA(stdout), newServe(stderr), newReport(stdout), newQuarantine(stdout), newChannels(stdout))
	return root
}

// requireFlags marks flags of cmd required. It fails only on a flag cmd does not have: a
// mistake of the code, which every test that builds the CLI then shows.
func requireFlags(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		if err := cmd.MarkFlagRequired(name); err != nil {
			panic(fmt.Sprintf("%s: %v", cmd.CommandPath(), err))
		}
	}
}
