package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// RulesStore is a Store that holds the long form's rows, and whose rows and devices a test can
// change as people do (editing the files, putting items).
type RulesStore interface {
	evaluator.Store
	SetRules(t *testing.T, rows []rule.Row)
	SetDevices(t *testing.T, devs []device.Device)
}

// RunRules runs the rules' part of the Store contract: the rows that may apply to a device (its
// own, its location's, the fleet's, never another's), a device that moves, a row deleted, a
// row's version (kept while unchanged, the next when changed).
func RunRules(t *testing.T, newStore func(t *testing.T, rows []rule.Row, devs []device.Device) RulesStore) {
	ctx := context.Background()
	v := threshold.Of
	fleet, locA, locB := rule.Scope{Kind: rule.Fleet}, rule.Scope{Kind: rule.Location, Name: "Building A"}, rule.Scope{Kind: rule.Location, Name: "Building B"}
	rows := []rule.Row{
		{UserID: "ops", Scope: fleet, Metric: "co2", Kind: rule.High, Warning: v(1000)},
		{UserID: "ops", Scope: locA, Metric: "co2", Kind: rule.High, Warning: v(900)},
		{UserID: "ops", Scope: locB, Metric: "co2", Kind: rule.High, Warning: v(1200)},
		{UserID: "ops", Scope: rule.Scope{Kind: rule.Device, Name: "room-1"}, Metric: "co2", Kind: rule.High, Warning: v(800)},
		{UserID: "ops", Scope: rule.Scope{Kind: rule.Device, Name: "room-2"}, Metric: "humidity", Kind: rule.Low, Warning: v(20)},
	}
	devs := []device.Device{{ID: "room-1", Location: "Building A"}, {ID: "room-2", Location: "Building A"}, {ID: "room-3"}}
	s := newStore(t, rows, devs)
	inForce := func(id string) map[string]float64 {
		d, err := s.LoadDevice(ctx, id)
		require.NoError(t, err)
		out := map[string]float64{}
		for _, f := range d.InForce() {
			out[string(f.Name())+" "+f.Scope.String()] = f.Warning.V
		}
		return out
	}
	t.Run("precedence", func(t *testing.T) {
		assert.Equal(t, map[string]float64{"co2_high device:room-1": 800}, inForce("room-1"), "the device's own row")
		assert.Equal(t, map[string]float64{"co2_high location:Building A": 900, "humidity_low device:room-2": 20}, inForce("room-2"),
			"its location's, and its own row of another rule")
		assert.Equal(t, map[string]float64{"co2_high fleet": 1000}, inForce("room-3"), "no location: the fleet's")
		d, err := s.LoadDevice(ctx, "room-3")
		require.NoError(t, err)
		for _, r := range d.Rows {
			assert.NotEqual(t, rule.Location, r.Scope.Kind, "no location row reaches a device without one: %v", r)
			assert.NotEqual(t, rule.Device, r.Scope.Kind, "nor another device's row: %v", r)
		}
	})
	t.Run("a device moves", func(t *testing.T) {
		s.SetDevices(t, []device.Device{{ID: "room-1", Location: "Building A"}, {ID: "room-2", Location: "Building B"}, {ID: "room-3"}})
		assert.Equal(t, map[string]float64{"co2_high location:Building B": 1200, "humidity_low device:room-2": 20}, inForce("room-2"))
	})
	t.Run("a row deleted, a row changed", func(t *testing.T) {
		first, err := s.LoadDevice(ctx, "room-3")
		require.NoError(t, err)
		require.Len(t, first.Rows, 1)
		version := first.Rows[0].Version
		changed := append([]rule.Row{}, rows[1:4]...) // the fleet's row changed below, room-2's deleted
		changed = append(changed, rule.Row{UserID: "ops", Scope: fleet, Metric: "co2", Kind: rule.High, Warning: v(1100)})
		s.SetRules(t, changed)
		d, err := s.LoadDevice(ctx, "room-3")
		require.NoError(t, err)
		require.Len(t, d.Rows, 1)
		assert.Equal(t, 1100.0, d.Rows[0].Warning.V)
		assert.Equal(t, version+1, d.Rows[0].Version, "a changed row takes the next version")
		d, err = s.LoadDevice(ctx, "room-2")
		require.NoError(t, err)
		assert.NotContains(t, inForce("room-2"), "humidity_low device:room-2", "the deleted row is gone")
		same, err := s.LoadDevice(ctx, "room-1")
		require.NoError(t, err)
		require.Len(t, same.Rows, 3)
		for _, r := range same.Rows {
			if r.Scope.Kind == rule.Device {
				assert.Equal(t, int64(1), r.Version, "an unchanged row keeps its version")
			}
		}
	})
}
