package s3lake_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/s3lake"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

func TestAny(t *testing.T) {
	ctx := context.Background()
	_, c := awstest.S3(t, "lake")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("bronze/dt=2026-03-01/hour=07/part-0.gz"), Body: strings.NewReader("{}\n")})
	require.NoError(t, err)
	b := s3lake.New(c, "lake")
	for prefix, want := range map[string]bool{"bronze/dt=2026-03-01/hour=07/": true, "bronze/dt=2026-03-01/hour=08/": false, "bronze/dt=2026-03-01/hour=0": true} {
		got, err := b.Any(ctx, prefix)
		require.NoError(t, err)
		assert.Equal(t, want, got, prefix)
	}
	_, err = s3lake.New(c, "no-such-bucket").Any(ctx, "bronze/")
	assert.ErrorContains(t, err, "listing s3://no-such-bucket/bronze/")
}
