package s3quarantine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/s3lake"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// ReadClient is the part of the S3 API the reader uses.
type ReadClient interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Reader reads the quarantine of a lake bucket (`iotwatch quarantine` on AWS).
type Reader struct {
	client ReadClient
	bucket string
}

// NewReader reads bucket's quarantine/.
func NewReader(client ReadClient, bucket string) *Reader {
	return &Reader{client: client, bucket: bucket}
}

// Objects lists the quarantine objects of the arrival hours from `from` up to `to`, oldest
// first: one listing per day (quarantine/dt=…/), its hours filtered by their keys.
func (r *Reader) Objects(ctx context.Context, from, to time.Time) ([]string, error) {
	return lake.HourObjects(ctx, s3lake.New(r.client, r.bucket), lake.Quarantine, from, to, ".json.gz")
}

// Read reads one object.
func (r *Reader) Read(ctx context.Context, key string) ([]byte, error) {
	o, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", r.bucket, key, err)
	}
	defer o.Body.Close()
	return io.ReadAll(o.Body)
}
