// Package awsclient loads AWS SDK configuration for the project's functions and CLI, optionally
// pointed at a local emulator, and counts the API calls its clients make.
package awsclient

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
)

// Load returns the standard AWS configuration. With a non-empty endpoint every client made from it
// talks to that URL (an emulator); unless credentials are set in the environment or a profile is
// named, it then uses dummy static credentials, so nothing looks for instance credentials on a
// network that is not there.
func Load(ctx context.Context, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(endpoint))
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if endpoint != "" && cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// Counter counts API call attempts (retries included) per "Service.Operation".
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

// Add installs the counter on a client's options: append it to aws.Config.APIOptions.
func (c *Counter) Add(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("iotwatchCallCounter",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			name := middleware.GetServiceID(ctx) + "." + middleware.GetOperationName(ctx)
			c.mu.Lock()
			if c.counts == nil {
				c.counts = map[string]int{}
			}
			c.counts[name]++
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// Take returns the counts since the last Take and resets them.
func (c *Counter) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = nil
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// Service sums the counts of one service ("DynamoDB", "SNS", "S3").
func Service(counts map[string]int, service string) int {
	n := 0
	for k, v := range counts {
		if len(k) > len(service) && k[:len(service)] == service && k[len(service)] == '.' {
			n += v
		}
	}
	return n
}

// Sleep waits d, or until ctx is done (its error then): the pause between an adapter's own
// retries of what a service refused.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
