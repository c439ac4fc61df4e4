package evaluator_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

// TestActAcknowledgesThroughARace: an acknowledgement whose write meets a batch's write (the
// batch wins) is read and written again, and the next batch honours it: no REMIND.
func TestActAcknowledgesThroughARace(t *testing.T) {
	ctx := context.Background()
	cfg := aliceConfig[0]
	cfg.RemindSeconds = 300
	store := &racingStore{Store: memstore.New([]threshold.Config{cfg}, nil)}
	pub := &recording{}
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil)
	_, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 25)})
	require.NoError(t, err)

	store.armed.Store(true)
	store.hook = func() { // a batch lands between the ack's read and its write
		out, err := svc.Evaluate(ctx, []evaluator.Message{msg("2", 1, 25)})
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	attempts := 0
	changed, err := evaluator.Act(ctx, store, "room-1", func(st *alarm.DeviceState) (bool, error) {
		attempts++
		return st.Ack(alarm.TemperatureHigh, "alice"), nil
	})
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, 2, attempts, "read and written again after the conflict")

	_, err = svc.Evaluate(ctx, []evaluator.Message{msg("3", 6, 25), msg("4", 11, 25)})
	require.NoError(t, err)
	assert.Equal(t, []string{"08:00 OPEN"}, pub.log, "no REMIND at 08:05 or 08:10 once acknowledged")
	changed, err = evaluator.Act(ctx, store, "room-1", func(st *alarm.DeviceState) (bool, error) {
		return st.Ack(alarm.TemperatureHigh, "alice"), nil
	})
	require.NoError(t, err)
	assert.False(t, changed, "acknowledged already: nothing written")
}
