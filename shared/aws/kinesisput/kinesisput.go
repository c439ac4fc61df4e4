// Package kinesisput puts records on a Kinesis stream with PutRecords, resending the entries a
// call refused (throttled, internal failure) until every one is in or the attempts run out.
package kinesisput

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
)

// Client is the part of the Kinesis API the putter uses.
type Client interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Entry is one record: its partition key (the device id, as the IoT rule keys it) and data.
type Entry struct {
	PartitionKey string
	Data         []byte
}

// Putter puts entries on one stream.
type Putter struct {
	client Client
	stream string
	// Retry is how refused entries are put again: 8 attempts an entry, the first wait 100 ms. A
	// give-up is an *awsclient.RefusedError.
	awsclient.Retry
}

// New puts on stream.
func New(client Client, stream string) *Putter {
	return &Putter{client: client, stream: stream, Retry: awsclient.Retry{Attempts: 8, Backoff: 100 * time.Millisecond}}
}

// PutRecords takes at most 500 records and 5 MiB a call (Kinesis' limits).
const (
	maxRecords = 500
	maxBytes   = 5 << 20
	maxRecord  = 1 << 20 // one record, data and partition key
)

// Put puts every entry, in calls of up to 500 records and 5 MiB, resending only the entries a
// call refused. It returns how many are in the stream; an error says why the rest are not. An
// entry is never sent again once Kinesis accepted it (no duplicate from a retry of a partial
// failure); a call whose answer is lost is the SDK's to retry, and may duplicate, as any
// producer's.
func (p *Putter) Put(ctx context.Context, entries []Entry) (int, error) {
	for i, e := range entries {
		if size := len(e.Data) + len(e.PartitionKey); size > maxRecord {
			return 0, fmt.Errorf("record %d (%s) is %d bytes with its key, over Kinesis' 1 MiB: nothing sent", i+1, e.PartitionKey, size)
		}
	}
	put := 0
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && n < maxRecords && size+len(entries[n].Data)+len(entries[n].PartitionKey) <= maxBytes {
			size += len(entries[n].Data) + len(entries[n].PartitionKey)
			n++
		}
		if n == 0 {
			return put, fmt.Errorf("a record of %d bytes is over Kinesis' limit", len(entries[0].Data))
		}
		ok, err := p.putBatch(ctx, entries[:n])
		put += ok
		if err != nil {
			return put, err
		}
		entries = entries[n:]
	}
	return put, nil
}

// putBatch puts one call's worth of entries, and again the ones Kinesis refused (p.Retry).
func (p *Putter) putBatch(ctx context.Context, batch []Entry) (int, error) {
	put := 0
	_, err := awsclient.RetryRefused(ctx, p.Retry, "Kinesis", p.stream, batch, func(ctx context.Context, pending []Entry) ([]Entry, string, error) {
		recs := make([]types.PutRecordsRequestEntry, len(pending))
		for i, e := range pending {
			recs[i] = types.PutRecordsRequestEntry{Data: e.Data, PartitionKey: aws.String(e.PartitionKey)}
		}
		out, err := p.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: recs})
		if err != nil {
			return nil, "", fmt.Errorf("putting %d records on %s: %w", len(pending), p.stream, err)
		}
		if len(out.Records) != len(pending) {
			return nil, "", fmt.Errorf("putting records on %s: %d results for %d records", p.stream, len(out.Records), len(pending))
		}
		var refused []Entry
		var last string
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				refused = append(refused, pending[i])
				last = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				continue
			}
			put++
		}
		return refused, last, nil
	})
	return put, err
}

// HTTPClient is what the SDK calls to send a request.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Buffered wraps the SDK's HTTP client so that each answer is read whole before the SDK
// deserializes it. With kinesis v1.56.11 the answer of a PutRecords was now and then read after
// its connection was closed ("deserialization failed … use of closed network connection", about 1
// call in 60 against a local fake, keep-alives or not), and a retried call duplicates its
// entries; answers are small (a result per record), so holding one in memory costs nothing.
func Buffered(c HTTPClient) HTTPClient { return buffered{c} }

type buffered struct{ c HTTPClient }

func (b buffered) Do(r *http.Request) (*http.Response, error) {
	resp, err := b.c.Do(r)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
