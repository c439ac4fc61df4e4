package pipeline

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	tablecontract "github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

// Aggregation is the cold path: the hourly aggregate function and its schedule.
type Aggregation struct {
	constructs.Construct
	Function awslambda.Function
	Schedule awsevents.Rule
	// Maintenance is the daily run that compacts the Iceberg tables.
	Maintenance awsevents.Rule
	OnFailure   awssqs.Queue
}

// AggregationProps wires aggregation to the lake.
type AggregationProps struct {
	Lake         *Lake
	Table        awsdynamodb.ITable // the lease (tablecontract.LockPK items only)
	FunctionsDir string
}

// NewAggregation builds the aggregate function, runs it five minutes past every hour, and sends
// failed invocations to a queue.
func NewAggregation(scope constructs.Construct, id string, p *AggregationProps) *Aggregation {
	c := constructs.NewConstruct(scope, jsii.String(id))
	g := &Aggregation{Construct: c}
	stack := awscdk.Stack_Of(c)

	g.OnFailure = deadLetterQueue(c, "OnFailure")
	g.Function = goFunction(c, "Aggregate", "aggregate", p.FunctionsDir, "iotwatch: hourly aggregates through Athena", 256, 900,
		map[string]*string{
			fnenv.AthenaWorkgroup: p.Lake.WorkGroupName,
			fnenv.GlueDatabase:    p.Lake.DatabaseName,
			fnenv.LakeBucket:      p.Lake.Bucket.BucketName(),
			fnenv.TableName:       p.Table.TableName(),
			fnenv.LateHours:       jsii.String(strconv.Itoa(aggregate.DefaultConfig.LateHours)),
			fnenv.IntervalSeconds: jsii.String(strconv.Itoa(int(aggregate.DefaultConfig.Interval.Seconds()))),
		})
	fn := g.Function
	// One aggregation at a time: a backfill and the schedule, or a retry and the run it retries,
	// never replace the same hour at once. A lease in the table (shared/aws/dynamolock), not a
	// reserved concurrency of 1: a new account's concurrency quota of 10 refuses any reservation,
	// and the first deploy would fail. What an earlier invocation left running in Athena, the next
	// one stops first (aggregate.Athena.Prepare).
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("dynamodb:PutItem", "dynamodb:DeleteItem"),
		Resources:  jsii.Strings(*p.Table.TableArn()),
		Conditions: &map[string]interface{}{"ForAllValues:StringEquals": map[string]interface{}{"dynamodb:LeadingKeys": []string{tablecontract.LockPK}}},
	}))
	// The metrics catalog, read at each run (silver keeps the declared metrics' values): the
	// fleet's partition only.
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("dynamodb:Query"),
		Resources:  jsii.Strings(*p.Table.TableArn()),
		Conditions: &map[string]interface{}{"ForAllValues:StringEquals": map[string]interface{}{"dynamodb:LeadingKeys": []string{tablecontract.FleetPK}}},
	}))
	// Async invocations (the schedule): two retries, then the failure queue (alarmed).
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(2),
		OnFailure:     awslambdadestinations.NewSqsDestination(g.OnFailure),
	})

	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", *stack.Partition(), service, *stack.Region(), *stack.Account(), resource)
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution",
			"athena:ListQueryExecutions", "athena:BatchGetQueryExecution"), // the last two: an earlier invocation's writes still running
		Resources: jsii.Strings(arn("athena", "workgroup/"+*p.Lake.WorkGroupName)),
	}))
	table := func(name string) string { return arn("glue", "table/"+*p.Lake.DatabaseName+"/"+name) }
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"),
		Resources: jsii.Strings(arn("glue", "catalog"), arn("glue", "database/"+*p.Lake.DatabaseName),
			table("bronze_lines"), table(lake.AlertsTable.Name), table(lake.RejectionsTable.Name), table(lake.DevicesTable.Name)),
	}))
	// The Iceberg tables it creates (aggregate.TableStatements) and commits to.
	var iceberg []*string
	for _, t := range aggregate.IcebergTables {
		iceberg = append(iceberg, jsii.String(table(t)))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions", "glue:CreateTable", "glue:UpdateTable"),
		Resources: &iceberg,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("glue:CreateTable"),
		Resources: jsii.Strings(arn("glue", "catalog"), arn("glue", "database/"+*p.Lake.DatabaseName)),
	}))
	// Reads bronze, alerts, the rejections index and devices; writes silver and gold (Iceberg data
	// and metadata), and the query results. Athena runs the queries with the caller's permissions.
	allow(fn, []string{"s3:GetObject"}, objects(p.Lake.Bucket, lake.Bronze), objects(p.Lake.Bucket, lake.Alerts), objects(p.Lake.Bucket, lake.Rejections),
		objects(p.Lake.Bucket, lake.DevicesTable.Prefix))
	allow(fn, []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
		objects(p.Lake.Bucket, lake.Silver), objects(p.Lake.Bucket, lake.Gold), objects(p.Lake.Results, "results"))
	allow(fn, []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, *p.Lake.Bucket.BucketArn(), *p.Lake.Results.BucketArn())

	g.Schedule = awsevents.NewRule(c, jsii.String("Hourly"), &awsevents.RuleProps{
		Description: jsii.String("Aggregate the hour that just ended (and the two before it, for late readings)"),
		Schedule:    awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String("5")}),
	})
	g.Schedule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(2), DeadLetterQueue: g.OnFailure,
	}))
	// Daily, away from the hour's run: the Iceberg tables compacted and their expired snapshots
	// removed (aggregate.MaintainPayload; OPTIMIZE and VACUUM through the same workgroup).
	g.Maintenance = awsevents.NewRule(c, jsii.String("DailyMaintenance"), &awsevents.RuleProps{
		Description: jsii.String("Compact the Iceberg tables (OPTIMIZE … BIN_PACK) and remove their expired snapshots (VACUUM)"),
		Schedule:    awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String("35"), Hour: jsii.String("3")}),
	})
	g.Maintenance.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(2), DeadLetterQueue: g.OnFailure,
		Event: awsevents.RuleTargetInput_FromObject(map[string]any{"maintain": true}), // aggregate.MaintainPayload
	}))
	return g
}
