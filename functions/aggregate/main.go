// Command aggregate is the Lambda that writes hourly aggregates through Athena, on an hourly
// EventBridge schedule or a backfill payload {"from":"2026-03-01T00","to":"2026-03-01T06"}. It wires
// the Athena runner to the aggregate handler; the SQL and the logic live in shared/service/aggregate.
//
// Environment: ATHENA_WORKGROUP, GLUE_DATABASE (required); LATE_HOURS (2), INTERVAL_SECONDS (60).
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
	"github.com/iotwatch/iotwatch/shared/aws/athenaquery"
	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { log.Error(msg, args...); os.Exit(1) }

	workgroup, database := os.Getenv("ATHENA_WORKGROUP"), os.Getenv("GLUE_DATABASE")
	if workgroup == "" || database == "" {
		fail("ATHENA_WORKGROUP and GLUE_DATABASE must be set")
	}
	conf := aggregate.DefaultConfig
	if v := os.Getenv("LATE_HOURS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 48 {
			fail("LATE_HOURS must be a whole number from 0 to 48", "value", v)
		}
		conf.LateHours = n
	}
	if v := os.Getenv("INTERVAL_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3600 {
			fail("INTERVAL_SECONDS must be a whole number from 1 to 3600", "value", v)
		}
		conf.Interval = time.Duration(n) * time.Second
	}
	cfg, err := awsclient.Load(ctx, "")
	if err != nil {
		fail("AWS configuration", "err", err)
	}
	runner := athenaquery.New(athena.NewFromConfig(cfg), workgroup, database)
	h := aggregate.NewHandler(aggregate.NewAthena(runner, database), conf, log, os.Stdout)
	lambda.Start(h.Handle)
}
