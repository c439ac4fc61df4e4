package filestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsersReload: the users file is read again when it changes; a changed file that does not
// validate is refused whole and the preferences in force stay.
func TestUsersReload(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.csv")
	write := func(body string, mod time.Time) {
		require.NoError(t, os.WriteFile(path, []byte("user_id,timezone,quiet_hours\n"+body), 0o644))
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	t0 := time.Now().Add(-time.Hour)
	write("alice,Europe/Paris,22:00-07:00\n", t0)
	u, err := OpenUsers(path, nil)
	require.NoError(t, err)
	got, err := u.LoadUsers(ctx, []string{"alice", "bob"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "22:00-07:00", got["alice"].Quiet.String())

	write("alice,Europe/Paris,23:00-06:00\nbob,UTC,\n", t0.Add(time.Minute))
	u.Reload()
	got, _ = u.LoadUsers(ctx, []string{"alice", "bob"})
	assert.Len(t, got, 2)
	assert.Equal(t, "23:00-06:00", got["alice"].Quiet.String())

	write("alice,Nowhere/Land,23:00-06:00\n", t0.Add(2*time.Minute))
	u.Reload()
	got, _ = u.LoadUsers(ctx, []string{"alice", "bob"})
	assert.Len(t, got, 2, "a bad edit is refused: the preferences in force stay")

	_, err = OpenUsers(path, nil)
	assert.ErrorContains(t, err, "users.csv:2: timezone")
}
