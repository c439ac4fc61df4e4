package alarm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// batch applies readings to st as one batch and returns the alerts.
func batch(cfgs []threshold.Config, st *DeviceState, ins ...in) []string {
	var got []string
	d := NewDevice(st, cfgs)
	for _, x := range ins {
		r := x.reading()
		d.Apply(&r, func(a alert.Alert) { got = append(got, short(a)) })
	}
	d.Finish()
	return got
}

// TestAckStopsRemindersUntilEscalation: an acknowledged episode makes no REMIND; ESCALATE and
// RESOLVE still come, and an ESCALATE re-arms the reminders.
func TestAckStopsRemindersUntilEscalation(t *testing.T) {
	c := high(24, 26, 0)
	c.RemindSeconds = 300
	cfgs := []threshold.Config{c}
	st := &DeviceState{}
	assert.Equal(t, []string{"OPEN WARNING temperature_high @0 from 0 obs=25 thr=24"}, batch(cfgs, st, tmp(0, 25)))
	assert.False(t, st.Ack(TemperatureLow, "alice"), "no such episode")
	assert.True(t, st.Ack(TemperatureHigh, "alice"))
	assert.False(t, st.Ack(TemperatureHigh, "alice"), "acknowledged already")
	assert.Empty(t, batch(cfgs, st, tmp(300, 25), tmp(600, 25.1)), "no REMIND once acknowledged")
	assert.Equal(t, []string{"ESCALATE VIOLATION temperature_high @660 from 660 obs=27 thr=26"}, batch(cfgs, st, tmp(660, 27)))
	assert.Equal(t, []string{"REMIND VIOLATION temperature_high @960 from 0 obs=27 thr=26"}, batch(cfgs, st, tmp(900, 27), tmp(960, 27)),
		"the escalation re-armed the reminders")
	assert.True(t, st.Ack(TemperatureHigh, "alice"))
	assert.Equal(t, []string{"RESOLVE VIOLATION temperature_high @1300 from 0 obs=23 thr=26"}, batch(cfgs, st, tmp(1260, 27), tmp(1300, 23)))
	assert.Empty(t, st.Episodes())
	assert.Equal(t, []string{"OPEN WARNING temperature_high @1400 from 1400 obs=25 thr=24", "REMIND WARNING temperature_high @1700 from 1400 obs=25 thr=24"},
		batch(cfgs, st, tmp(1400, 25), tmp(1700, 25)), "a new episode is not acknowledged")
}

// TestAckStopsSilenceReminders: an acknowledged silence reminds no more on the clock, and has
// nothing due; the next reading still resolves it.
func TestAckStopsSilenceReminders(t *testing.T) {
	cfgs := []threshold.Config{{UserID: "alice", DeviceID: "room-1", SilentSeconds: 600, RemindSeconds: 600}}
	st := &DeviceState{}
	batch(cfgs, st, tmp(0, 21))
	var got []string
	d := NewDevice(st, cfgs)
	d.Advance(t0.Add(11*time.Minute), func(a alert.Alert) { got = append(got, short(a)) })
	d.Finish()
	require.Equal(t, []string{"OPEN WARNING device_silent @600 from 0 obs=600 thr=600"}, got)
	require.True(t, st.Ack(DeviceSilent, "alice"))
	d = NewDevice(st, cfgs)
	_, due := d.NextDue()
	assert.False(t, due, "an acknowledged silence has no reminder to come")
	d.Advance(t0.Add(3*time.Hour), func(a alert.Alert) { got = append(got, short(a)) })
	assert.Len(t, got, 1, "no REMIND: %v", got)
	got = batch(cfgs, st, tmp(3*3600, 21))
	assert.Equal(t, []string{"RESOLVE WARNING device_silent @10800 from 0 obs=10800 thr=600"}, got)
}

// TestSnooze: a snooze covers its user, its rule (or every rule) and its time, and no more;
// snoozing changes no alert.
func TestSnooze(t *testing.T) {
	st := &DeviceState{}
	at := t0.Add(time.Hour)
	st.Snooze("alice", "", at)
	st.Snooze("bob", alert.TemperatureHigh, at.Add(time.Hour))
	assert.True(t, st.Snoozed("alice", alert.SensorStuck, at.Add(-time.Second)))
	assert.False(t, st.Snoozed("alice", alert.SensorStuck, at), "a snooze ends at its time")
	assert.True(t, st.Snoozed("bob", alert.TemperatureHigh, at))
	assert.False(t, st.Snoozed("bob", alert.TemperatureLow, at), "bob snoozed one rule")
	assert.False(t, st.Snoozed("carol", alert.TemperatureHigh, at))
	st.Snooze("bob", alert.TemperatureHigh, at.Add(2*time.Hour)) // replaces
	assert.Len(t, st.Snoozes, 2)
	assert.False(t, st.Unsnooze("alice", alert.TemperatureHigh), "alice's snooze is of the device, not of one rule")
	assert.True(t, st.Unsnooze("alice", ""))
	assert.False(t, st.Snoozed("alice", alert.SensorStuck, t0))
	st.DropExpiredSnoozes(at.Add(3 * time.Hour))
	assert.Nil(t, st.Snoozes)

	// Alerts are the same with or without a snooze.
	cfgs := []threshold.Config{high(24, 26, 0)}
	plain, snoozed := &DeviceState{}, &DeviceState{}
	snoozed.Snooze("alice", "", t0.Add(time.Hour))
	ins := []in{tmp(0, 25), tmp(60, 27), tmp(120, 23)}
	assert.Equal(t, batch(cfgs, plain, ins...), batch(cfgs, snoozed, ins...))
	c := snoozed.Clone()
	c.Snoozes[0].Until = 0
	assert.NotZero(t, snoozed.Snoozes[0].Until, "Clone copies the snoozes")
}

func TestEpisodes(t *testing.T) {
	cfgs := []threshold.Config{high(24, 26, 0), {UserID: "bob", DeviceID: "room-1", TempWarning: threshold.Of(23)}}
	st := &DeviceState{}
	batch(cfgs, st, tmp(0, 25))
	st.Ack(TemperatureHigh, "bob")
	var got []string
	for _, e := range st.Episodes() {
		got = append(got, strings.Join([]string{e.User, string(e.Rule), string(e.Severity), e.Since.Format("15:04"), map[bool]string{true: "acked"}[e.Acked]}, " "))
	}
	assert.Equal(t, []string{"alice temperature_high WARNING 14:00 ", "bob temperature_high WARNING 14:00 acked"}, got)
	r, err := ParseRule("sensor_stuck")
	require.NoError(t, err)
	assert.Equal(t, SensorStuck, r)
	_, err = ParseRule("stuck")
	assert.ErrorContains(t, err, "device_silent")
}

// TestFindAlert: an open episode is found by the id of its OPEN or of its latest alert, not by an
// older REMIND's, and not once it is over.
func TestFindAlert(t *testing.T) {
	c := high(24, 26, 0)
	c.RemindSeconds = 300
	cfgs := []threshold.Config{c}
	st := &DeviceState{}
	var ids []string
	d := NewDevice(st, cfgs)
	for _, x := range []in{tmp(0, 25), tmp(300, 25), tmp(600, 25)} { // OPEN, REMIND, REMIND
		r := x.reading()
		d.Apply(&r, func(a alert.Alert) { ids = append(ids, a.AlertID) })
	}
	d.Finish()
	require.Len(t, ids, 3)
	for i, want := range []bool{true, false, true} {
		rule, user, ok := st.FindAlert(ids[i])
		assert.Equal(t, want, ok, "alert %d", i)
		if ok {
			assert.Equal(t, TemperatureHigh, rule)
			assert.Equal(t, "alice", user)
		}
	}
	_, _, ok := st.FindAlert("short")
	assert.False(t, ok)
	batch(cfgs, st, tmp(660, 23)) // RESOLVE
	_, _, ok = st.FindAlert(ids[0])
	assert.False(t, ok, "the episode is over")
}
