package kinesisput

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
)

// fakeKinesis answers PutRecords as Kinesis does (JSON 1.1): it refuses the entries refuse
// says, and keeps the ones it accepts.
type fakeKinesis struct {
	mu       sync.Mutex
	calls    []int // records per call
	accepted map[string]int
	refuse   func(call, i int) bool
}

func (f *fakeKinesis) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
		http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	var in struct {
		StreamName string
		Records    []struct {
			Data         []byte
			PartitionKey string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := len(f.calls)
	f.calls = append(f.calls, len(in.Records))
	type result struct {
		SequenceNumber, ShardId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedRecordCount int
		Records           []result
	}{}
	for i, rec := range in.Records {
		if f.refuse(call, i) {
			out.FailedRecordCount++
			out.Records = append(out.Records, result{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard"})
			continue
		}
		f.accepted[rec.PartitionKey+"|"+string(rec.Data)]++
		out.Records = append(out.Records, result{SequenceNumber: fmt.Sprint(len(f.accepted)), ShardId: "shardId-000000000000"})
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", fmt.Sprint(len(body))) // as Kinesis answers: a length, not chunks
	_, _ = w.Write(body)
}

// client is the real SDK client on the fake, as the CLI makes it (Buffered), without the SDK's
// own retries: a call it retried after the fake had taken it would duplicate its entries (the SDK's
// documented at-least-once), which is not what these tests hold Put to.
func client(url string) *kinesis.Client {
	return kinesis.New(kinesis.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), Retryer: aws.NopRetryer{},
		HTTPClient: Buffered(http.DefaultClient)})
}

func entries(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{PartitionKey: fmt.Sprintf("room-%d", i%7), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	return out
}

// TestRefusedEntriesAreSentAgainAndOnlyThey: 1,200 entries in calls of 500; the first call of
// each batch refuses every third, the next ones accept: each entry is in the stream once.
func TestRefusedEntriesAreSentAgainAndOnlyThey(t *testing.T) {
	f := &fakeKinesis{accepted: map[string]int{}, refuse: func(call, i int) bool { return call%2 == 0 && i%3 == 0 }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := New(client(srv.URL), "readings")
	p.Backoff = time.Millisecond
	n, err := p.Put(context.Background(), entries(1200))
	require.NoError(t, err)
	assert.Equal(t, 1200, n)
	assert.Len(t, f.accepted, 1200)
	for k, c := range f.accepted {
		assert.Equal(t, 1, c, k)
	}
	assert.Equal(t, []int{500, 167, 500, 167, 200, 67}, f.calls, "batches of 500, then their refused third")
}

func TestAttemptsRunOut(t *testing.T) {
	f := &fakeKinesis{accepted: map[string]int{}, refuse: func(call, i int) bool { return i == 0 }} // the first entry of every call
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := New(client(srv.URL), "readings")
	p.Backoff, p.Attempts = time.Millisecond, 3
	n, err := p.Put(context.Background(), entries(10))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 records refused by readings after 3 attempts (ProvisionedThroughputExceededException")
	var refused *awsclient.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, awsclient.RefusedError{Service: "Kinesis", Target: "readings", Count: 1, Attempts: 3,
		LastCode: "ProvisionedThroughputExceededException: Rate exceeded for shard"}, *refused)
	assert.Equal(t, 9, n)
	assert.Len(t, f.accepted, 9)
}

func TestARecordOverOneMiBSendsNothing(t *testing.T) {
	f := &fakeKinesis{accepted: map[string]int{}, refuse: func(int, int) bool { return false }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	es := entries(3)
	es[1].Data = make([]byte, 1<<20)
	n, err := New(client(srv.URL), "readings").Put(context.Background(), es)
	assert.ErrorContains(t, err, "record 2 (room-1) is 1048582 bytes with its key, over Kinesis' 1 MiB: nothing sent")
	assert.Zero(t, n)
	assert.Empty(t, f.calls)
}
