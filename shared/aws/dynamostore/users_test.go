package dynamostore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// TestUsers: preferences written, listed, read in one batch and deleted; a user named like a
// device's item does not show up as a device; units stored when set (imperial) and read back, a
// user without (an item of the editions before units) metric.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	users, err := user.ParseCSV(strings.NewReader("user_id,timezone,quiet_hours,quiet_min_severity,units\nalice,Europe/Paris,22:00-07:00,VIOLATION,imperial\nbob,,,,\nSTATE,UTC,01:00-02:00,WARNING,metric\n"), "users.csv")
	require.NoError(t, err)
	require.NoError(t, s.PutUsers(ctx, users))

	listed, err := s.ListUsers(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, users, listed)
	got, err := s.LoadUsers(ctx, []string{"alice", "carol", "bob"})
	require.NoError(t, err)
	assert.Equal(t, map[string]user.User{"alice": users[0], "bob": users[1]}, got, "carol has none")
	assert.Equal(t, alert.ImperialUnits, got["alice"].Units)
	assert.Equal(t, alert.UnitSystem(""), got["bob"].Units, "no units attribute: metric")

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

// TestHeldForTheDigest: held alerts kept once each, the digest due at the earliest quiet end
// (a later Hold does not push it back), moved on by a Release with a next time, gone with none.
func TestHeldForTheDigest(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t1 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	a := alert.Alert{AlertID: "a1", UserID: "alice", Kind: alert.Open, AlertTime: t1.Add(-8 * time.Hour), Suppressed: alert.QuietHours}
	b := alert.Alert{AlertID: "b2", UserID: "alice", Kind: alert.Open, AlertTime: t2.Add(-8 * time.Hour), Suppressed: alert.QuietHours}
	require.NoError(t, s.Hold(ctx, []alert.Alert{a, a}, map[string]time.Time{"alice": t1}))
	require.NoError(t, s.Hold(ctx, []alert.Alert{b}, map[string]time.Time{"alice": t2}))
	held, err := s.Held(ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, held, 2)
	due, err := s.DueDevices(ctx, t1)
	require.NoError(t, err)
	assert.Equal(t, []string{evaluator.HeldPrefix + "alice"}, ids(due), "due at the earliest quiet end")

	require.NoError(t, s.Release(ctx, "alice", []string{"a1"}, t2))
	due, err = s.DueDevices(ctx, t1)
	require.NoError(t, err)
	assert.Empty(t, due)
	due, err = s.DueDevices(ctx, t2)
	require.NoError(t, err)
	assert.Equal(t, []string{evaluator.HeldPrefix + "alice"}, ids(due))
	require.NoError(t, s.Release(ctx, "alice", []string{"b2"}, time.Time{}))
	due, err = s.DueDevices(ctx, t2.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, due)
	held, err = s.Held(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, held)
}
