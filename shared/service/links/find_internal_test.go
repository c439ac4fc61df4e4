package links

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// TestFind: a verified token finds the open episode it names and no other (another user's, rule,
// or start); a name that fits two of the device's episodes finds none rather than guess.
func TestFind(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("s", 32)), "")
	require.NoError(t, err)
	since := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tok, status := s.Verify("/a/room-1/"+s.token(Ack, "room-1", "alice", alert.TemperatureHigh, since.UnixMilli(), since), since)
	require.Equal(t, Valid, status)
	alice := alarm.Episode{User: "alice", Rule: alert.TemperatureHigh, Severity: alert.Warning, Since: since}
	bob, low, later := alice, alice, alice
	bob.User, low.Rule, later.Since = "bob", alert.TemperatureLow, since.Add(time.Minute)

	got, ok := s.Find(tok, []alarm.Episode{bob, low, alice, later})
	assert.True(t, ok)
	assert.Equal(t, alice, got)
	_, ok = s.Find(tok, []alarm.Episode{bob, low, later})
	assert.False(t, ok, "alice's episode is over")
	_, ok = s.Find(tok, []alarm.Episode{alice, alice})
	assert.False(t, ok, "a name that fits two")
}
