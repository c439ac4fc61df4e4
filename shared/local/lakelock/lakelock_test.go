package lakelock

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOneHolderAtATime(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	require.NoError(t, err)
	_, err = Acquire(dir) // another open file description: flock refuses it as it would another process
	require.True(t, errors.Is(err, ErrInUse), "second Acquire = %v; want ErrInUse", err)
	assert.Contains(t, err.Error(), "process "+strconv.Itoa(os.Getpid()))
	assert.True(t, strings.Contains(err.Error(), "another --lake"))
	require.NoError(t, first.Release())
	again, err := Acquire(dir)
	require.NoError(t, err, "a released lake can be taken again")
	require.NoError(t, again.Release())
}
