// Package s3lake answers what the aggregate function asks of the lake bucket itself: whether an
// hour's partition holds any object (an hour with no bronze object is skipped: no Athena query
// runs for it, so a stack at rest scans nothing).
package s3lake

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Client is the part of the S3 API used.
type Client interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Bucket is the lake bucket.
type Bucket struct {
	client Client
	name   string
}

// New returns the bucket name read through client.
func New(client Client, name string) *Bucket { return &Bucket{client: client, name: name} }

// List implements lake.Lister: every key under prefix, page after page.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.name, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", b.name, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}

// Any reports whether an object's key starts with prefix (one ListObjectsV2 of one key).
func (b *Bucket) Any(ctx context.Context, prefix string) (bool, error) {
	out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b.name, Prefix: &prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("listing s3://%s/%s: %w", b.name, prefix, err)
	}
	return len(out.Contents) > 0, nil
}
