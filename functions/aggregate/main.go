// Command aggregate is the Lambda that writes silver, the hourly and daily aggregates and data quality through Athena, on an hourly
// EventBridge schedule or a backfill payload {"from":"2026-03-01T00","to":"2026-03-01T06"}. It wires
// the Athena runner to the aggregate handler; the SQL and the logic live in shared/service/aggregate.
//
// Environment (shared/contract/fnenv): ATHENA_WORKGROUP, GLUE_DATABASE, LAKE_BUCKET, TABLE_NAME (the
// lease) (required); LATE_HOURS,
// INTERVAL_SECONDS (default: aggregate.DefaultConfig).
package main

import (
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/athenaquery"
	"github.com/iotwatch/iotwatch/shared/aws/dynamolock"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/aws/s3lake"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

func main() {
	b := lambdainit.Start(fnenv.AthenaWorkgroup, fnenv.GlueDatabase, fnenv.LakeBucket, fnenv.TableName)
	conf, err := aggregate.ConfigFromEnv(b.Getenv)
	b.Check(err, "bad configuration")
	// One hour at a time: Iceberg commits of several hours to one table at once can conflict
	// (ICEBERG_COMMIT_ERROR), and there is no retry of a conflict.
	conf.Concurrency = 1
	database, bucket := b.Getenv(fnenv.GlueDatabase), b.Getenv(fnenv.LakeBucket)
	runner := athenaquery.New(athena.NewFromConfig(b.AWS), b.Getenv(fnenv.AthenaWorkgroup), database)
	agg := aggregate.NewAthena(runner, database, bucket).SkipEmptyHours(s3lake.New(s3.NewFromConfig(b.AWS), bucket))
	// one invocation writes at a time: a lease in the table, longer than the function's 15 minutes
	lease := dynamolock.New(dynamodb.NewFromConfig(b.AWS), b.Getenv(fnenv.TableName), "aggregate", 16*time.Minute)
	// the metrics catalog, read at each run from the fleet's partition (declared metrics in silver)
	store := dynamostore.New(dynamodb.NewFromConfig(b.AWS), b.Getenv(fnenv.TableName))
	h := aggregate.NewHandler(agg, conf, b.Log, b.Out).WithLock(lease, lambdainit.RequestID).WithCatalog(store.Catalog)
	lambda.Start(h.Handle)
}
