// Command aggregate is the Lambda that writes silver, the hourly and daily aggregates and data quality through Athena, on an hourly
// EventBridge schedule or a backfill payload {"from":"2026-03-01T00","to":"2026-03-01T06"}. It wires
// the Athena runner to the aggregate handler; the SQL and the logic live in shared/service/aggregate.
//
// Environment (shared/contract/fnenv): ATHENA_WORKGROUP, GLUE_DATABASE, LAKE_BUCKET, TABLE_NAME (the
// lease) (required); LATE_HOURS,
// INTERVAL_SECONDS (default: aggregate.DefaultConfig).
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/athenaquery"
	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/dynamolock"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/s3lake"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { lambdainit.Fail(log, msg, args...) }

	workgroup, database, bucket, tableName := os.Getenv(fnenv.AthenaWorkgroup), os.Getenv(fnenv.GlueDatabase), os.Getenv(fnenv.LakeBucket), os.Getenv(fnenv.TableName)
	if workgroup == "" || database == "" || bucket == "" || tableName == "" {
		fail(fnenv.AthenaWorkgroup + ", " + fnenv.GlueDatabase + ", " + fnenv.LakeBucket + " and " + fnenv.TableName + " must be set")
	}
	conf := aggregate.DefaultConfig
	// One hour at a time: Iceberg commits of several hours to one table at once can conflict
	// (ICEBERG_COMMIT_ERROR), and there is no retry of a conflict.
	conf.Concurrency = 1
	if v := os.Getenv(fnenv.LateHours); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 48 {
			fail(fnenv.LateHours+" must be a whole number from 0 to 48", "value", v)
		}
		conf.LateHours = n
	}
	if v := os.Getenv(fnenv.IntervalSeconds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3600 {
			fail(fnenv.IntervalSeconds+" must be a whole number from 1 to 3600", "value", v)
		}
		conf.Interval = time.Duration(n) * time.Second
	}
	cfg, err := awsclient.Load(ctx, "")
	if err != nil {
		fail("AWS configuration", "err", err)
	}
	runner := athenaquery.New(athena.NewFromConfig(cfg), workgroup, database)
	agg := aggregate.NewAthena(runner, database, bucket).SkipEmptyHours(s3lake.New(s3.NewFromConfig(cfg), bucket))
	// one invocation writes at a time: a lease in the table, longer than the function's 15 minutes
	lease := dynamolock.New(dynamodb.NewFromConfig(cfg), tableName, "aggregate", 16*time.Minute)
	requestID := func(ctx context.Context) string {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			return lc.AwsRequestID
		}
		return "unknown"
	}
	h := aggregate.NewHandler(agg, conf, log, os.Stdout).WithLock(lease, requestID)
	lambda.Start(h.Handle)
}
