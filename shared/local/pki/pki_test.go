package pki

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCAInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, InitCA(dir, []string{"gateway.local"}, time.Now()))
	assert.ErrorContains(t, InitCA(dir, nil, time.Now()), "refusing to overwrite")
	fi, err := os.Stat(filepath.Join(dir, CAKey))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the CA key is its owner's only")
	_, _, err = IssueDevice(dir, "room 1", time.Now(), time.Hour)
	assert.ErrorContains(t, err, "not valid")
}

func TestDeviceCertificatesNameTheDevice(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	require.NoError(t, InitCA(dir, nil, now))
	cert, key, err := IssueDevice(dir, "room-7", now, DeviceLifetime)
	require.NoError(t, err)
	assert.FileExists(t, key)
	b, err := os.ReadFile(cert)
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	assert.Equal(t, "room-7", c.Subject.CommonName)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	assert.WithinDuration(t, now.Add(DeviceLifetime), c.NotAfter, time.Second)
	caPEM, err := os.ReadFile(filepath.Join(dir, CACert))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	_, err = c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err, "the CA verifies it")
}
