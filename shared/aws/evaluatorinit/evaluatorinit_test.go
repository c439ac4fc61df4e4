package evaluatorinit_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/evaluatorinit"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func TestNew(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1"}
	env := map[string]string{fnenv.TableName: "iotwatch", fnenv.AlertsTopicARN: "arn:aws:sns:eu-west-1:000000000000:alerts", fnenv.LoadConcurrency: "4"}
	a, err := evaluatorinit.New(context.Background(), cfg, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.NotNil(t, a.Store)
	assert.NotNil(t, a.Publisher)
	assert.Equal(t, 4, a.Config.LoadConcurrency)
	assert.Equal(t, evaluator.DefaultConfig.CacheTTL, a.Config.CacheTTL)
	assert.Same(t, a.Store, a.Config.Users, "people's preferences are in the table")
	assert.Same(t, a.Store, a.Config.Held, "and what they hold")
	assert.Nil(t, a.Config.Linker, "no links without their secret and URL")

	for name, bad := range map[string]map[string]string{
		"bad configuration": {fnenv.CacheTTL: "soon"},
		"one-click links":   {fnenv.LinkBaseURL: "https://links.example"},
	} {
		_, err := evaluatorinit.New(context.Background(), cfg, func(k string) string { return bad[k] })
		assert.ErrorContains(t, err, name)
	}
}
