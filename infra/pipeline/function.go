package pipeline

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// goFunction is one of the project's Go Lambdas: the `bootstrap` that `make build` puts under
// <functionsDir>/<name>/ (linux/arm64, provided.al2023), with its own log group.
func goFunction(scope constructs.Construct, id, name, functionsDir, description string, memory, timeoutSeconds float64, env map[string]*string) awslambda.Function {
	logs := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// Its own role, with no managed policy: it may write its own log group and nothing else
	// until the construct using it allows more.
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("iotwatch " + name + " function"),
	})
	allow(role, []string{"logs:CreateLogStream", "logs:PutLogEvents"}, *logs.LogGroupArn(), *logs.LogGroupArn()+":log-stream:*")
	return awslambda.NewFunction(scope, jsii.String(id), &awslambda.FunctionProps{
		Role:          role,
		Description:   jsii.String(description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(functionsDir, name)), nil),
		MemorySize:    jsii.Number(memory),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(timeoutSeconds)),
		Environment:   &env,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       awslambda.Tracing_ACTIVE,
	})
}
