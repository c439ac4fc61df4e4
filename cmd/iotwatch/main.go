// Command iotwatch is the project's CLI: backtest thresholds on recorded readings, and manage the
// thresholds and device metadata the evaluate function reads.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
// (backtest), 2 bad usage or bad input.
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
	root.AddCommand(newBacktest(stdin, stdout, stderr), newThresholds(stdout), newDevice(stdout),
		newAggregate(stdout, stderr), newQuery(stdout), newSubscribe(stdout), newRun(stdout, stderr), newSimulate(stdout, stderr))
	return root
}
