package dynamolock_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamolock"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// TestOneHolderAtATime: holders that want the lease at once hold it one after another, never two
// at a time; a lease its holder never gave back ends by itself; a holder whose context ends while
// another holds it gets ErrHeld.
func TestOneHolderAtATime(t *testing.T) {
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	ctx := context.Background()
	var holding, most atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := dynamolock.New(client, "iotwatch", "aggregate", time.Minute)
			l.Poll = 5 * time.Millisecond
			release, err := l.Acquire(ctx, "holder-"+string(rune('a'+i)))
			if !assert.NoError(t, err) {
				return
			}
			n := holding.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			holding.Add(-1)
			assert.NoError(t, release(ctx))
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), most.Load(), "holders at a time")

	// a holder that died: its lease ends after Lease
	clock := time.Now()
	dead := dynamolock.New(client, "iotwatch", "aggregate", time.Minute)
	dead.Now = func() time.Time { return clock }
	_, err := dead.Acquire(ctx, "dead")
	require.NoError(t, err)
	next := dynamolock.New(client, "iotwatch", "aggregate", time.Minute)
	next.Poll = time.Millisecond
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = next.Acquire(short, "next")
	cancel()
	assert.True(t, errors.Is(err, dynamolock.ErrHeld), "while the dead holder's lease runs: %v", err)
	next.Now = func() time.Time { return clock.Add(61 * time.Second) }
	release, err := next.Acquire(ctx, "next")
	require.NoError(t, err, "after the lease ended")
	// the dead holder, coming back, gives back nothing of the new holder's
	require.NoError(t, release(ctx))
}

// loseFirst sends every request, and loses the answer of the first PutItem (the lease taken,
// the taker not told).
type loseFirst struct {
	mu   sync.Mutex
	lost bool
}

func (l *loseFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost && strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".PutItem") {
		l.lost = true
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (the answer lost on purpose)")
	}
	return resp, err
}

// TestALostAnswerDoesNotLockItsOwnerOut: PutItem takes the lease but its answer is lost; the SDK
// tries again, and the second try must find the lease its own, not another holder's.
func TestALostAnswerDoesNotLockItsOwnerOut(t *testing.T) {
	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	lose := &loseFirst{}
	l := dynamolock.New(awstest.DynamoDBClient(url, awstest.WithTransport(lose)), "iotwatch", "aggregate", time.Minute)
	l.Poll = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	release, err := l.Acquire(ctx, "req-1")
	require.NoError(t, err, "the lease its first try took")
	assert.True(t, lose.lost, "an answer was lost")
	require.NoError(t, release(context.Background()))
	// free again: another holder takes it at once
	release, err = dynamolock.New(awstest.DynamoDBClient(url), "iotwatch", "aggregate", time.Minute).Acquire(ctx, "req-2")
	require.NoError(t, err)
	require.NoError(t, release(context.Background()))
}
