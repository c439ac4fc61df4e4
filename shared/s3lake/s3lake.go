// Package s3lake writes lake objects (quarantine, alerts) to an S3 bucket.
package s3lake

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/evaluator"
	"github.com/iotwatch/iotwatch/shared/lake"
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

// ObjectName turns a batch key (a Kinesis event id, "shardId-…:4959…") into a file name.
func ObjectName(batchKey string) string {
	r := strings.NewReplacer(":", "-", "/", "-", " ", "-")
	return r.Replace(batchKey) + ".json.gz"
}

// Put writes the batch's rejected records, one gzip JSON-lines object per arrival hour; the key
// derives from the batch, so a retried batch overwrites its own objects.
func (q *Quarantine) Put(ctx context.Context, batchKey string, recs []lake.Rejected) error {
	byHour := map[string][]lake.Rejected{}
	var order []string
	for _, r := range recs {
		t := r.ArrivalTime
		if t.IsZero() {
			t = time.Now()
		}
		p := lake.Partition(lake.Quarantine, t)
		if _, ok := byHour[p]; !ok {
			order = append(order, p)
		}
		byHour[p] = append(byHour[p], r)
	}
	for _, p := range order {
		body, err := lake.GzipJSONLines(byHour[p])
		if err != nil {
			return fmt.Errorf("encoding quarantine records: %w", err)
		}
		key := p + ObjectName(batchKey)
		_, err = q.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      &q.bucket,
			Key:         &key,
			Body:        bytes.NewReader(body),
			ContentType: aws.String("application/x-ndjson"),
		})
		if err != nil {
			return fmt.Errorf("writing s3://%s/%s: %w", q.bucket, key, err)
		}
	}
	return nil
}
