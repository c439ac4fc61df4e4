package main

import (
	"bytes"
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

func newThresholds(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "thresholds", Short: "Manage the thresholds the evaluate function reads"}

	var put storeFlags
	putCmd := &cobra.Command{
		Use:   "put FILE.csv",
		Short: "Validate a whole thresholds file, then write it (nothing is written if any line is wrong)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			configs, err := readThresholds(args[0])
			if err != nil {
				return err
			}
			s, err := put.open(cmd)
			if err != nil {
				return err
			}
			if err := s.PutThresholds(cmd.Context(), configs); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d thresholds to %s\n", len(configs), put.table)
			return nil
		},
	}
	put.add(putCmd)

	var list storeFlags
	var listDevice string
	listCmd := &cobra.Command{
		Use:   "list --device ID",
		Short: "Print every user's thresholds for a device as CSV",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := list.open(cmd)
			if err != nil {
				return err
			}
			configs, err := s.ListThresholds(cmd.Context(), listDevice)
			if err != nil {
				return err
			}
			sort.Slice(configs, func(i, j int) bool { return configs[i].UserID < configs[j].UserID })
			return threshold.WriteCSV(stdout, configs)
		},
	}
	list.add(listCmd)
	listCmd.Flags().StringVar(&listDevice, "device", "", "device id")
	listCmd.MarkFlagRequired("device")

	var del storeFlags
	var delUser, delDevice string
	delCmd := &cobra.Command{
		Use:   "delete --user U --device ID",
		Short: "Remove one user's thresholds for a device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := del.open(cmd)
			if err != nil {
				return err
			}
			if err := s.DeleteThresholds(cmd.Context(), delUser, delDevice); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted the thresholds of %s for %s\n", delUser, delDevice)
			return nil
		},
	}
	del.add(delCmd)
	delCmd.Flags().StringVar(&delUser, "user", "", "user id")
	delCmd.Flags().StringVar(&delDevice, "device", "", "device id")
	delCmd.MarkFlagRequired("user")
	delCmd.MarkFlagRequired("device")

	cmd.AddCommand(putCmd, listCmd, delCmd)
	return cmd
}

func newDevices(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Manage device metadata (name, location) used in alert texts"}
	var put storeFlags
	var bucket, s3Endpoint string
	putCmd := &cobra.Command{
		Use:   "put FILE.csv [--bucket LAKE]",
		Short: "Validate a whole devices file (device_id,name,location), then write it (and, with --bucket, the lake's snapshot for location_hourly)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			devs, err := device.ParseCSV(f, args[0])
			if err != nil {
				return fmt.Errorf("invalid devices, nothing written:\n%w", err)
			}
			s, err := put.open(cmd)
			if err != nil {
				return err
			}
			if err := s.PutDevices(cmd.Context(), devs); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d devices to %s\n", len(devs), put.table)
			if bucket == "" {
				return nil
			}
			lines := make([]lake.DevicesLine, len(devs))
			for i, d := range devs {
				lines[i] = lake.DevicesLine{DeviceID: d.ID, Name: d.Name, Location: d.Location}
			}
			body, err := lake.GzipJSONLines(lines)
			if err != nil {
				return err
			}
			cfg, err := awsclient.Load(cmd.Context(), s3Endpoint)
			if err != nil {
				return err
			}
			client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = s3Endpoint != "" })
			if _, err := client.PutObject(cmd.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(lake.DevicesObject), Body: bytes.NewReader(body)}); err != nil {
				return fmt.Errorf("writing s3://%s/%s: %w", bucket, lake.DevicesObject, err)
			}
			fmt.Fprintf(stdout, "wrote %d devices to s3://%s/%s\n", len(devs), bucket, lake.DevicesObject)
			return nil
		},
	}
	put.add(putCmd)
	putCmd.Flags().StringVar(&bucket, "bucket", "", "the lake bucket (stack output LakeBucket): also replace its devices snapshot, which location_hourly reads")
	putCmd.Flags().StringVar(&s3Endpoint, "s3-endpoint", "", "S3 endpoint URL (an emulator); default: the standard AWS configuration")
	cmd.AddCommand(putCmd)
	return cmd
}

func newUsers(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage people's preferences (time zone, quiet hours) in the table"}

	var put storeFlags
	putCmd := &cobra.Command{
		Use:   "put FILE.csv",
		Short: "Validate a whole users file (user_id,timezone,quiet_hours,quiet_min_severity), then write it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			users, err := user.ParseCSV(f, args[0])
			if err != nil {
				return fmt.Errorf("invalid users, nothing written:\n%w", err)
			}
			s, err := put.open(cmd)
			if err != nil {
				return err
			}
			if err := s.PutUsers(cmd.Context(), users); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d users to %s\n", len(users), put.table)
			return nil
		},
	}
	put.add(putCmd)

	var list storeFlags
	listCmd := &cobra.Command{
		Use:   "list",
		Short: "Print every user's preferences as CSV",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := list.open(cmd)
			if err != nil {
				return err
			}
			users, err := s.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			return user.WriteCSV(stdout, users)
		},
	}
	list.add(listCmd)

	var del storeFlags
	var delUser string
	delCmd := &cobra.Command{
		Use:   "delete --user U",
		Short: "Remove a user's preferences (no more quiet hours)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := del.open(cmd)
			if err != nil {
				return err
			}
			if err := s.DeleteUser(cmd.Context(), delUser); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted the preferences of %s\n", delUser)
			return nil
		},
	}
	del.add(delCmd)
	delCmd.Flags().StringVar(&delUser, "user", "", "user id")
	_ = delCmd.MarkFlagRequired("user")

	cmd.AddCommand(putCmd, listCmd, delCmd)
	return cmd
}
