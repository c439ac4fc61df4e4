package dynamostore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// TestUsers: preferences written, listed, read in one batch and deleted; a user named like a
// device's item does not show up as a device.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	users, err := user.ParseCSV(strings.NewReader("user_id,timezone,quiet_hours,quiet_min_severity\nalice,Europe/Paris,22:00-07:00,VIOLATION\nbob,,,\nSTATE,UTC,01:00-02:00,WARNING\n"), "users.csv")
	require.NoError(t, err)
	require.NoError(t, s.PutUsers(ctx, users))

	listed, err := s.ListUsers(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, users, listed)
	got, err := s.LoadUsers(ctx, []string{"alice", "carol", "bob"})
	require.NoError(t, err)
	assert.Equal(t, map[string]user.User{"alice": users[0], "bob": users[1]}, got, "carol has none")

	states, err := s.States(ctx)
	require.NoError(t, err)
	assert.Empty(t, states, "no device has a state; the user STATE is not one")
	_, err = s.SaveState(ctx, "room-1", evaluator.State{})
	require.NoError(t, err)
	states, err = s.States(ctx)
	require.NoError(t, err)
	assert.Len(t, states, 1)

	require.NoError(t, s.DeleteUser(ctx, "bob"))
	assert.ErrorContains(t, s.DeleteUser(ctx, "bob"), "bob has no preferences")
	listed, err = s.ListUsers(ctx)
	require.NoError(t, err)
	assert.Len(t, listed, 2)
}
