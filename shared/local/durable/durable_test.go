package durable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFileReplacesWholeAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	require.NoError(t, WriteFile(path, []byte("one"), 0o600))
	require.NoError(t, WriteFile(path, []byte("two"), 0o600))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	require.NoError(t, WriteHidden(filepath.Join(dir, "y.gz"), []byte("three"), 0o644))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"x.json", "y.gz"}, names, "no temporary file left")
	assert.Error(t, WriteFile(filepath.Join(dir, "missing", "z"), nil, 0o644), "a directory that is not there")
}

func TestMkdirAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "c")
	require.NoError(t, MkdirAll(dir, 0o755))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	require.NoError(t, MkdirAll(dir, 0o755), "there already")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	assert.Error(t, MkdirAll(filepath.Join(dir, "f", "g"), 0o755), "under a file")
}
