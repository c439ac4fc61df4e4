// Package evaluatorinit makes the evaluation service's AWS adapters the way both functions that
// run the service make them (evaluate, on the readings stream; silence, on its schedule): its
// settings from the environment, the DynamoDB store, which also holds people's preferences and
// what they hold until their digest, the one-click links and the SNS publisher.
package evaluatorinit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/aws/linkslambda"
	"github.com/iotwatch/iotwatch/shared/aws/snsalerts"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Adapters are what evaluator.New takes, but the quarantine and the metrics, which differ.
type Adapters struct {
	Config    evaluator.Config // evaluator.ConfigFromEnv, its Users, Held and Linker set
	Store     *dynamostore.Store
	Publisher *snsalerts.Publisher
}

// New reads the settings (evaluator.ConfigFromEnv) and makes, with clients from cfg, the store on
// the table fnenv.TableName, the links (fnenv.LinkSecretARN and fnenv.LinkBaseURL, none when
// neither is set) and the publisher to fnenv.AlertsTopicARN; getenv is os.Getenv.
func New(ctx context.Context, cfg aws.Config, getenv func(string) string) (Adapters, error) {
	conf, err := evaluator.ConfigFromEnv(getenv)
	if err != nil {
		return Adapters{}, fmt.Errorf("bad configuration: %w", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), getenv(fnenv.TableName))
	conf.Users = store // quiet hours: people's preferences live in the same table,
	conf.Held = store  // and what they hold until the user's digest
	conf.Linker, err = linkslambda.Linker(ctx, secretsmanager.NewFromConfig(cfg), getenv(fnenv.LinkSecretARN), getenv(fnenv.LinkBaseURL))
	if err != nil {
		return Adapters{}, fmt.Errorf("one-click links: %w", err)
	}
	return Adapters{Config: conf, Store: store, Publisher: snsalerts.New(sns.NewFromConfig(cfg), getenv(fnenv.AlertsTopicARN))}, nil
}
