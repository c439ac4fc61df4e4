package s3quarantine

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
	var out []string
	want := map[string]bool{}
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		want[lake.Partition(lake.Quarantine, h)] = true
	}
	for d := from.UTC().Truncate(24 * time.Hour); d.Before(to); d = d.Add(24 * time.Hour) {
		prefix := lake.Quarantine + "/dt=" + d.Format("2006-01-02") + "/"
		p := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing s3://%s/%s: %w", r.bucket, prefix, err)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				if i := strings.LastIndex(k, "/"); i >= 0 && want[k[:i+1]] && strings.HasSuffix(k, ".json.gz") {
					out = append(out, k)
				}
			}
		}
	}
	sort.Strings(out) // dt=…/hour=… sort as time
	return out, nil
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
