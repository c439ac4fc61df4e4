package pki

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestADeviceIsRegisteredOnceUnlessReissued: a second certificate for one name is refused;
// ReissueDevice issues it and puts the old one on the deny list.
func TestADeviceIsRegisteredOnceUnlessReissued(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	require.NoError(t, InitCA(dir, nil, now))
	_, _, err := IssueDevice(dir, "room-1", now, DeviceLifetime)
	require.NoError(t, err)
	first, err := DeviceCert(dir, "room-1")
	require.NoError(t, err)
	_, _, err = IssueDevice(dir, "room-1", now, DeviceLifetime)
	require.ErrorIs(t, err, ErrExists)
	assert.ErrorContains(t, err, "--force")
	again, err := DeviceCert(dir, "room-1")
	require.NoError(t, err)
	assert.Equal(t, first.SerialNumber, again.SerialNumber, "the refused register left the certificate as it was")

	list, err := OpenDenyList(filepath.Join(dir, RevokedFile))
	require.NoError(t, err)
	assert.Zero(t, list.Len(), "no file: nothing revoked")
	_, _, revoked, err := ReissueDevice(dir, "room-1", now, DeviceLifetime, now)
	require.NoError(t, err)
	assert.Equal(t, first.SerialNumber.Text(16), revoked)
	second, err := DeviceCert(dir, "room-1")
	require.NoError(t, err)
	assert.NotEqual(t, first.SerialNumber, second.SerialNumber)
	changed, err := list.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, list.Revoked(first), "the old certificate is revoked")
	assert.False(t, list.Revoked(second), "the new one is not")

	serial, err := Revoke(dir, "room-1", now)
	require.NoError(t, err)
	assert.Equal(t, second.SerialNumber.Text(16), serial)
	_, err = Revoke(dir, "room-1", now)
	assert.ErrorIs(t, err, ErrRevoked)
	_, err = Revoke(dir, "room-9", now)
	assert.ErrorIs(t, err, os.ErrNotExist)
	changed, err = list.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, list.Revoked(second))
	assert.Equal(t, 2, list.Len())
	changed, err = list.Reload()
	require.NoError(t, err)
	assert.False(t, changed, "read again only when it changes")
}

// TestABadDenyListIsRefusedWhole: a line that is not a serial refuses the file, naming the line;
// a list read before stays in force.
func TestABadDenyListIsRefusedWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), RevokedFile)
	require.NoError(t, os.WriteFile(path, []byte(revokedHeader+"\n1f,room-1,2026-03-01T00:00:00Z\n"), 0o644))
	list, err := OpenDenyList(path)
	require.NoError(t, err)
	require.Equal(t, 1, list.Len())
	require.NoError(t, os.WriteFile(path, []byte(revokedHeader+"\n1f,room-1,2026-03-01T00:00:00Z\nzz,room-2,2026-03-01T00:00:00Z\n"), 0o644))
	_, err = list.Reload()
	assert.ErrorContains(t, err, RevokedFile+`:3: serial "zz"`)
	assert.Equal(t, 1, list.Len(), "the list read before stays")
	_, err = OpenDenyList(path)
	assert.Error(t, err)
}
