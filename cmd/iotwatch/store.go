package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/domain/user"
)

// storeFlags are the flags every command that talks to the table takes.
type storeFlags struct {
	table, endpoint string
}

func (f *storeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.table, "table", os.Getenv("IOTWATCH_TABLE"), "DynamoDB table (the stack output TableName; default $IOTWATCH_TABLE)")
	cmd.Flags().StringVar(&f.endpoint, "endpoint", "", "DynamoDB endpoint URL (an emulator); default: the standard AWS configuration")
}

func (f *storeFlags) open(cmd *cobra.Command) (*dynamostore.Store, error) {
	if f.table == "" {
		if cmd.Flags().Lookup("server") != nil {
			return nil, fmt.Errorf("give --table NAME for a deployed stack (or set IOTWATCH_TABLE), or --server http://ADDR for a local `iotwatch run --http ADDR`")
		}
		return nil, fmt.Errorf("--table is required (or set IOTWATCH_TABLE)")
	}
	cfg, err := awsclient.Load(cmd.Context(), f.endpoint)
	if err != nil {
		return nil, err
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if f.endpoint != "" {
			o.DisableValidateResponseChecksum = true // emulators do not always send the CRC32 header
		}
	})
	return dynamostore.New(client, f.table), nil
}

// table is an opened table: its store, and its name for messages.
type table struct {
	*dynamostore.Store
	name string
}

// tableCmd is a command on the table: the store flags and its own, In read from the arguments
// before the table is opened (a bad file opens nothing), then Run.
type tableCmd[In any] struct {
	Use, Short string
	Args       cobra.PositionalArgs                   // nil: no arguments
	Flags      func(*cobra.Command)                   // the command's own flags
	Required   []string                               // of its own flags, those that must be given
	Read       func(args []string) (In, error)        // nil: the zero In
	Run        func(context.Context, table, In) error // what it does on the table
}

func (c tableCmd[In]) command() *cobra.Command {
	var store storeFlags
	args := c.Args
	if args == nil {
		args = cobra.NoArgs
	}
	cmd := &cobra.Command{
		Use:   c.Use,
		Short: c.Short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in In
			if c.Read != nil {
				var err error
				if in, err = c.Read(args); err != nil {
					return err
				}
			}
			s, err := store.open(cmd)
			if err != nil {
				return err
			}
			return c.Run(cmd.Context(), table{s, store.table}, in)
		},
	}
	store.add(cmd)
	if c.Flags != nil {
		c.Flags(cmd)
	}
	requireFlags(cmd, c.Required...)
	return cmd
}

// none is the input of a command that reads no file.
type none struct{}

// putCSV is `put FILE.csv`: the whole file read and validated first (nothing is written if any
// line is wrong), then written with put.
func putCSV[T any](stdout io.Writer, noun, short string, parse func(io.Reader, string) ([]T, error),
	put func(*dynamostore.Store, context.Context, []T) error) tableCmd[[]T] {
	return tableCmd[[]T]{
		Use:   "put FILE.csv",
		Short: short,
		Args:  cobra.ExactArgs(1),
		Read:  func(args []string) ([]T, error) { return readCSV(args[0], noun, "nothing written", parse) },
		Run: func(ctx context.Context, t table, rows []T) error {
			if err := put(t.Store, ctx, rows); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d %s to %s\n", len(rows), noun, t.name)
			return nil
		},
	}
}

// readCSV reads and validates a whole file with parse; an invalid one is refused whole, and the
// error says what of it was done (outcome: "nothing written", "nothing used").
func readCSV[T any](path, noun, outcome string, parse func(io.Reader, string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := parse(f, path)
	if err != nil {
		return nil, fmt.Errorf("invalid %s, %s:\n%w", noun, outcome, err)
	}
	return rows, nil
}

// localFiles are the metrics, thresholds, rules and devices files as iotwatch run reads them,
// each validated whole; an empty path is none.
type localFiles struct {
	catalog *reading.Catalog // nil: the built-in metrics only
	configs []threshold.Config
	rows    []rule.Row
	devices []device.Device
}

func readLocalFiles(thresholdsPath, rulesPath, devicesPath string) (localFiles, error) {
	return readLocalFilesWith("", thresholdsPath, rulesPath, devicesPath)
}

// readLocalFilesWith is readLocalFiles with a metrics catalog (metricsPath, "" for none): the
// rules may name the metrics it declares, and no other.
func readLocalFilesWith(metricsPath, thresholdsPath, rulesPath, devicesPath string) (localFiles, error) {
	var f localFiles
	var err error
	if f.catalog, err = readCatalog(metricsPath, "nothing used"); err != nil {
		return f, err
	}
	if thresholdsPath != "" {
		if f.configs, err = readThresholds(thresholdsPath); err != nil {
			return f, err
		}
	}
	if rulesPath != "" {
		if f.rows, err = readCSV(rulesPath, "rules", "nothing used", parseRulesOf(f.catalog)); err != nil {
			return f, err
		}
	}
	if devicesPath != "" {
		if f.devices, err = readCSV(devicesPath, "devices", "nothing used", device.ParseCSV); err != nil {
			return f, err
		}
	}
	return f, nil
}

// parseRulesOf reads a rules file whose rules name the built-in metrics or those cat declares.
func parseRulesOf(cat *reading.Catalog) func(io.Reader, string) ([]rule.Row, error) {
	return func(r io.Reader, name string) ([]rule.Row, error) { return rule.ParseCSV(r, name, cat) }
}

// parseRulesToStore reads a rules file to put in a store, which checks the metrics against its
// catalog: here any well-formed metric name passes.
func parseRulesToStore(r io.Reader, name string) ([]rule.Row, error) {
	return rule.ParseCSV(r, name, rule.WellFormed{})
}

func newThresholds(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "thresholds", Short: "Manage the thresholds the evaluate function reads"}
	put := putCSV(stdout, "thresholds", "Validate a whole thresholds file, then write it (nothing is written if any line is wrong)",
		threshold.ParseCSV, (*dynamostore.Store).PutThresholds)

	var listDevice string
	list := tableCmd[none]{
		Use:      "list --device ID",
		Short:    "Print every user's thresholds for a device as CSV",
		Flags:    func(cmd *cobra.Command) { cmd.Flags().StringVar(&listDevice, "device", "", "device id") },
		Required: []string{"device"},
		Run: func(ctx context.Context, t table, _ none) error {
			configs, err := t.ListThresholds(ctx, listDevice)
			if err != nil {
				return err
			}
			sort.Slice(configs, func(i, j int) bool { return configs[i].UserID < configs[j].UserID })
			return threshold.WriteCSV(stdout, configs)
		},
	}

	var delUser, delDevice string
	del := tableCmd[none]{
		Use:   "delete --user U --device ID",
		Short: "Remove one user's thresholds for a device",
		Flags: func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&delUser, "user", "", "user id")
			cmd.Flags().StringVar(&delDevice, "device", "", "device id")
		},
		Required: []string{"user", "device"},
		Run: func(ctx context.Context, t table, _ none) error {
			if err := t.DeleteThresholds(ctx, delUser, delDevice); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted the thresholds of %s for %s\n", delUser, delDevice)
			return nil
		},
	}

	cmd.AddCommand(put.command(), list.command(), del.command())
	return cmd
}

func newDevices(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Manage device metadata (name, location) used in alert texts"}
	put := putCSV(stdout, "devices", "Validate a whole devices file (device_id,name,location), then write it (and, with --bucket, the lake's snapshot for location_hourly)",
		device.ParseCSV, (*dynamostore.Store).PutDevices)
	var bucket, s3Endpoint string
	put.Use = "put FILE.csv [--bucket LAKE]"
	put.Flags = func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&bucket, "bucket", "", "the lake bucket (stack output LakeBucket): also replace its devices snapshot, which location_hourly reads")
		cmd.Flags().StringVar(&s3Endpoint, "s3-endpoint", "", "S3 endpoint URL (an emulator); default: the standard AWS configuration")
	}
	write := put.Run
	put.Run = func(ctx context.Context, t table, devs []device.Device) error {
		if err := write(ctx, t, devs); err != nil || bucket == "" {
			return err
		}
		return putDevicesSnapshot(ctx, stdout, bucket, s3Endpoint, devs)
	}
	cmd.AddCommand(put.command())
	return cmd
}

// putDevicesSnapshot replaces the lake's devices snapshot, which location_hourly reads.
func putDevicesSnapshot(ctx context.Context, stdout io.Writer, bucket, endpoint string, devs []device.Device) error {
	lines := make([]lake.DevicesLine, len(devs))
	for i, d := range devs {
		lines[i] = lake.DevicesLine{DeviceID: d.ID, Name: d.Name, Location: d.Location}
	}
	body, err := lake.GzipJSONLines(lines)
	if err != nil {
		return err
	}
	cfg, err := awsclient.Load(ctx, endpoint)
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = endpoint != "" })
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(lake.DevicesObject), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", bucket, lake.DevicesObject, err)
	}
	fmt.Fprintf(stdout, "wrote %d devices to s3://%s/%s\n", len(devs), bucket, lake.DevicesObject)
	return nil
}

func newUsers(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage people's preferences (time zone, quiet hours, units) in the table"}
	put := putCSV(stdout, "users", "Validate a whole users file (user_id,timezone,quiet_hours,quiet_min_severity,units; units metric or imperial, empty: metric), then write it",
		user.ParseCSV, (*dynamostore.Store).PutUsers)

	list := tableCmd[none]{
		Use:   "list",
		Short: "Print every user's preferences as CSV",
		Run: func(ctx context.Context, t table, _ none) error {
			users, err := t.ListUsers(ctx)
			if err != nil {
				return err
			}
			return user.WriteCSV(stdout, users)
		},
	}

	var delUser string
	del := tableCmd[none]{
		Use:      "delete --user U",
		Short:    "Remove a user's preferences (no more quiet hours)",
		Flags:    func(cmd *cobra.Command) { cmd.Flags().StringVar(&delUser, "user", "", "user id") },
		Required: []string{"user"},
		Run: func(ctx context.Context, t table, _ none) error {
			if err := t.DeleteUser(ctx, delUser); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted the preferences of %s\n", delUser)
			return nil
		},
	}

	cmd.AddCommand(put.command(), list.command(), del.command())
	return cmd
}
