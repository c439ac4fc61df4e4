// Package s3quarantine writes the evaluate function's rejected records to the lake's quarantine/
// prefix in S3, one gzip JSON-lines object per batch and arrival hour.
package s3quarantine

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Client is the part of the S3 API the writer uses.
type Client interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Quarantine writes rejected records under quarantine/dt=…/hour=…/ by arrival hour.
type Quarantine struct {
	client Client
	bucket string
}

var _ evaluator.Quarantine = (*Quarantine)(nil)

// NewQuarantine returns a quarantine writer to bucket.
func NewQuarantine(client Client, bucket string) *Quarantine {
	return &Quarantine{client: client, bucket: bucket}
}

// Put writes the batch's rejected records, one gzip JSON-lines object per arrival hour; the key
// derives from the batch, so a retried batch overwrites its own objects.
func (q *Quarantine) Put(ctx context.Context, batchKey string, recs []lake.Rejected) error {
	objects, err := lake.QuarantineObjects(batchKey, recs, time.Now())
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(objects))
	for k := range objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		_, err = q.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      &q.bucket,
			Key:         aws.String(key),
			Body:        bytes.NewReader(objects[key]),
			ContentType: aws.String("application/x-ndjson"),
		})
		if err != nil {
			return fmt.Errorf("writing s3://%s/%s: %w", q.bucket, key, err)
		}
	}
	return nil
}
