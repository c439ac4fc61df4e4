package pipeline

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// Grafana is what a Grafana (Amazon Managed Grafana, or any Grafana with the Athena and
// CloudWatch data sources) needs to read the stack: one managed policy, read-only, to attach to
// the role or user its data sources use (infra/grafana/README.md).
type Grafana struct {
	constructs.Construct
	Policy awsiam.ManagedPolicy
}

// GrafanaProps names what Grafana reads.
type GrafanaProps struct {
	Lake *Lake
}

// NewGrafana builds the policy: queries in the stack's Athena workgroup only (which writes their
// results under results/ of the results bucket, the workgroup's enforced location), the Glue
// catalog's database and tables, the lake's tables' objects (bronze, alerts, gold), and
// CloudWatch's metrics and alarms (which have no resource-level permissions). Nothing it allows
// changes the lake, the catalog or an alarm.
func NewGrafana(scope constructs.Construct, id string, p *GrafanaProps) *Grafana {
	c := constructs.NewConstruct(scope, jsii.String(id))
	g := &Grafana{Construct: c}
	stack := awscdk.Stack_Of(c)
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", *stack.Partition(), service, *stack.Region(), *stack.Account(), resource)
	}
	db := *p.Lake.DatabaseName
	st := func(actions []string, resources ...string) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)})
	}
	g.Policy = awsiam.NewManagedPolicy(c, jsii.String("ReadOnly"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("iotwatch: read-only access for Grafana's Athena and CloudWatch data sources"),
		Statements: &[]awsiam.PolicyStatement{
			st([]string{"athena:GetWorkGroup", "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"},
				arn("athena", "workgroup/"+*p.Lake.WorkGroupName)),
			st([]string{"athena:GetDataCatalog", "athena:ListDatabases", "athena:GetDatabase", "athena:ListTableMetadata", "athena:GetTableMetadata"},
				arn("athena", "datacatalog/AwsDataCatalog")),
			st([]string{"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"},
				arn("glue", "catalog"), arn("glue", "database/"+db), arn("glue", "table/"+db+"/*")),
			st([]string{"s3:GetObject"}, objects(p.Lake.Bucket, lake.Bronze), objects(p.Lake.Bucket, lake.Alerts), objects(p.Lake.Bucket, lake.Gold),
				objects(p.Lake.Bucket, lake.Silver), objects(p.Lake.Bucket, lake.Rejections), objects(p.Lake.Bucket, lake.DevicesTable.Prefix)),
			st([]string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, objects(p.Lake.Results, "results")),
			st([]string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, *p.Lake.Bucket.BucketArn(), *p.Lake.Results.BucketArn()),
			st([]string{"cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarms",
				"cloudwatch:DescribeAlarmsForMetric", "cloudwatch:DescribeAlarmHistory"}, "*"),
		},
	})
	return g
}
