// Package storetest is the contract of evaluator.Store as one test suite, run against every
// implementation (the DynamoDB store on the emulator, the file store, the in-memory store): load
// of one device, batched load of states, absent state, conditional save, conflict, and ownership
// of returned and saved values. Test code only.
package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/suite"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Factory returns a new, empty store holding configs and devices (and no alarm state).
type Factory func(t *testing.T, configs []threshold.Config, devices []device.Device) evaluator.Store

// Run runs the contract against the stores newStore makes.
func Run(t *testing.T, newStore Factory) {
	suite.Run(t, &Suite{New: newStore})
}

// Configs are the thresholds every store under test holds.
var Configs = []threshold.Config{
	{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26), SustainSeconds: 60},
	{UserID: "bob", DeviceID: "room-1", TempLowWarning: threshold.Of(19)},
	{UserID: "carol", DeviceID: "room-2", LightNoOccupancy: threshold.Of(300)},
}

// Devices are the device metadata every store under test holds.
var Devices = []device.Device{{ID: "room-1", Name: "Office 1", Location: "Building A"}}

// Suite is the contract. New makes each test's store.
type Suite struct {
	suite.Suite
	New   Factory
	store evaluator.Store
	ctx   context.Context
}

// SetupTest makes a fresh store for each test.
func (s *Suite) SetupTest() {
	s.store = s.New(s.T(), Configs, Devices)
	s.ctx = context.Background()
}

// sample is a state with every field set, as the alarm machine leaves one mid-episode.
func sample(last int64) alarm.DeviceState {
	return alarm.DeviceState{
		Last: last, HasLast: true,
		Recent: []string{"m:room-1-000001", fmt.Sprintf("t:%d", last)},
		Rules: map[string]*alarm.RuleState{
			"temperature_high:alice": {Flags: 3, LastAt: last, WarnRun: last - 60e9, Open: alarm.Warning, OpenStart: last - 60e9, LastNotice: last},
			"temperature_low:bob":    {Flags: 5, LastAt: last, ViolRun: last - 1, Open: alarm.Violation, OpenStart: last - 1},
			"device_silent:alice":    {Open: alarm.Warning, OpenStart: last - 900e9, LastNotice: last - 300e9},
		},
		Temp: alarm.TempStats{N: 30, Mean: 21.25, Var: 0.0625, StuckValue: 21.5, StuckStart: last - 600e9, StuckLast: last, HasStuck: true},
	}
}

func (s *Suite) save(id string, st evaluator.State) int64 {
	v, err := s.store.SaveState(s.ctx, id, st)
	s.Require().NoError(err, "SaveState(%s, version %d)", id, st.Version)
	return v
}

func (s *Suite) TestLoadDeviceReadsConfigsMetadataAndAbsentState() {
	d, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	s.ElementsMatch(Configs[:2], unversioned(d.Configs))
	s.Equal(Devices[0], d.Info)
	s.Equal(int64(0), d.State.Version, "a device never saved has version 0")
	s.False(d.State.Alarm.HasLast)
	s.Empty(d.State.Alarm.Rules)
	s.Empty(d.State.Alarm.Recent)
}

func (s *Suite) TestLoadDeviceOfAnUnknownDevice() {
	d, err := s.store.LoadDevice(s.ctx, "room-9")
	s.Require().NoError(err)
	s.Empty(d.Configs)
	s.Equal("room-9", d.Info.ID, "the device id is known even without metadata")
	s.Equal(evaluator.State{}.Version, d.State.Version)
}

func (s *Suite) TestSaveThenLoad() {
	st := sample(1_700_000_000e9)
	s.Equal(int64(1), s.save("room-1", evaluator.State{Alarm: st}))
	d, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	s.Equal(evaluator.State{Alarm: sample(1_700_000_000e9), Version: 1}, d.State)

	states, err := s.store.LoadStates(s.ctx, []string{"room-1", "room-2"})
	s.Require().NoError(err)
	s.Equal(evaluator.State{Alarm: sample(1_700_000_000e9), Version: 1}, states["room-1"])
	s.Equal(int64(0), states["room-2"].Version, "an absent state is the zero state")
	s.Empty(states["room-2"].Alarm.Rules)
}

func (s *Suite) TestConditionalSaveAndConflict() {
	s.Equal(int64(1), s.save("room-1", evaluator.State{Alarm: sample(10e9)}))
	s.Equal(int64(2), s.save("room-1", evaluator.State{Alarm: sample(20e9), Version: 1}))

	for _, stale := range []int64{0, 1, 3} {
		_, err := s.store.SaveState(s.ctx, "room-1", evaluator.State{Alarm: sample(99e9), Version: stale})
		s.Require().ErrorIs(err, evaluator.ErrConflict, "a save at version %d over version 2", stale)
	}
	d, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	s.Equal(evaluator.State{Alarm: sample(20e9), Version: 2}, d.State, "a refused save stores nothing")
}

func (s *Suite) TestReturnedValuesBelongToTheCaller() {
	s.save("room-1", evaluator.State{Alarm: sample(10e9)})
	want := evaluator.State{Alarm: sample(10e9), Version: 1}

	d, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	scribble(&d.State.Alarm)
	d.Configs[0].TempWarning = threshold.Of(-1)
	states, err := s.store.LoadStates(s.ctx, []string{"room-1"})
	s.Require().NoError(err)
	s.Equal(want, states["room-1"], "changing what LoadDevice returned changed the store")
	got := states["room-1"]
	scribble(&got.Alarm)

	again, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	s.Equal(want, again.State, "changing what LoadStates returned changed the store")
	s.ElementsMatch(Configs[:2], unversioned(again.Configs), "changing returned configs changed the store")
}

func (s *Suite) TestSavedValuesAreCopied() {
	st := evaluator.State{Alarm: sample(10e9)}
	s.save("room-1", st)
	scribble(&st.Alarm) // the caller goes on using its state after the save
	d, err := s.store.LoadDevice(s.ctx, "room-1")
	s.Require().NoError(err)
	s.Equal(evaluator.State{Alarm: sample(10e9), Version: 1}, d.State, "the store kept a reference to the saved state")
}

func (s *Suite) TestLoadStatesOfManyDevices() {
	const n = 230 // more than one BatchGetItem (100 keys)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%03d", i)
		s.save(ids[i], evaluator.State{Alarm: sample(int64(i+1) * 1e9)})
	}
	ids = append(ids, "never-saved")
	states, err := s.store.LoadStates(s.ctx, ids)
	s.Require().NoError(err)
	for i, id := range ids[:n] {
		s.Require().Equal(evaluator.State{Alarm: sample(int64(i+1) * 1e9), Version: 1}, states[id], id)
	}
	s.Equal(int64(0), states["never-saved"].Version)
}

// unversioned returns configs without their versions (a store may version what it holds).
func unversioned(cfgs []threshold.Config) []threshold.Config {
	out := make([]threshold.Config, len(cfgs))
	for i, c := range cfgs {
		c.Version = 0
		out[i] = c
	}
	return out
}

// scribble changes every part of a state a careless caller could reach.
func scribble(st *alarm.DeviceState) {
	st.Last = -1
	if len(st.Recent) > 0 {
		st.Recent[0] = "m:scribbled"
	}
	for k, rs := range st.Rules {
		rs.Open = alarm.OK
		rs.LastAt = -1
		st.Rules[k+"#"] = rs
	}
	if st.Rules == nil {
		st.Rules = map[string]*alarm.RuleState{}
	}
	st.Rules["scribbled"] = &alarm.RuleState{}
}
