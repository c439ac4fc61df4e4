package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
)

// Links is the alerts' one-click acknowledge and snooze: a secret generated at deploy (never in
// the template), a small function that serves the links' pages behind a function URL, and the
// evaluate and silence functions' environment to sign links with.
type Links struct {
	constructs.Construct
	Secret   awssecretsmanager.Secret
	Function awslambda.Function
	URL      awslambda.FunctionUrl
}

// LinksProps wires the links to the hot path's table and topic, and to the functions that sign.
type LinksProps struct {
	Alerting     *Alerting
	Signers      []awslambda.Function // the functions whose alerts carry links
	FunctionsDir string
	// ReservedConcurrency bounds the function's concurrent executions (and reserves them); 0:
	// unbounded, within the account's.
	ReservedConcurrency float64
}

// NewLinks builds the links' secret, function and URL.
func NewLinks(scope constructs.Construct, id string, p *LinksProps) *Links {
	c := constructs.NewConstruct(scope, jsii.String(id))
	l := &Links{Construct: c}
	a := p.Alerting
	l.Secret = awssecretsmanager.NewSecret(c, jsii.String("Secret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("iotwatch: the key one-click links are signed with (HMAC-SHA256)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true), IncludeSpace: jsii.Bool(false),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	l.Function = goFunction(c, "Pages", "links", p.FunctionsDir, "iotwatch: one-click acknowledge and snooze links", 256, 10,
		map[string]*string{
			fnenv.TableName:      a.Table.TableName(),
			fnenv.AlertsTopicARN: a.Topic.TopicArn(),
			fnenv.LinkSecretARN:  l.Secret.SecretArn(),
		})
	// Public: people click links from their mail and phone, which cannot sign requests. What
	// protects the actions is the link's HMAC code (one user, device, rule and episode, 7 days),
	// a confirmation POST (a GET changes nothing), and that a link works once.
	l.URL = l.Function.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
	// A forged link is refused after one HMAC, without a request to the table; a flood of them
	// still takes the account's concurrency from the evaluation, unless this function's is
	// bounded. Reserving it is refused when it would leave the account's unreserved concurrency
	// below its minimum (a new account's quota of 10 allows none), so it is the operator's choice.
	if p.ReservedConcurrency > 0 {
		l.Function.Node().DefaultChild().(awslambda.CfnFunction).SetReservedConcurrentExecutions(jsii.Number(p.ReservedConcurrency))
	}
	allow(l.Function, []string{"secretsmanager:GetSecretValue"}, *l.Secret.SecretArn())
	// Read the device, act conditionally on its state; record the action through the topic.
	allow(l.Function, []string{"dynamodb:Query", "dynamodb:GetItem"}, *a.Table.TableArn())
	allowStateWrites(l.Function, *a.Table.TableArn(), []string{"dynamodb:PutItem"}, nil)
	allow(l.Function, []string{"sns:Publish"}, *a.Topic.TopicArn())
	allow(l.Function, []string{"kms:GenerateDataKey", "kms:Decrypt"}, *a.TopicKey.KeyArn())
	for _, fn := range p.Signers {
		fn.AddEnvironment(jsii.String(fnenv.LinkSecretARN), l.Secret.SecretArn(), nil)
		fn.AddEnvironment(jsii.String(fnenv.LinkBaseURL), l.URL.Url(), nil)
		allow(fn, []string{"secretsmanager:GetSecretValue"}, *l.Secret.SecretArn())
	}
	return l
}
