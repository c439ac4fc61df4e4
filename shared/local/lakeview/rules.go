package lakeview

import (
	"context"
	"fmt"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Rules are where a device's page reads the device's rules in force, at each read: a running
// pipeline's store, which follows the thresholds and rules files as they change (StoreRules), or
// the files of `iotwatch serve` and `iotwatch report`, read once (StaticRules).
type Rules interface {
	InForce(ctx context.Context, id string) ([]rule.InForce, error)
}

// DeviceLoader is a store that reads one device's rules (evaluator.Store's LoadDevice).
type DeviceLoader interface {
	LoadDevice(ctx context.Context, id string) (evaluator.Device, error)
}

// StoreRules are the rules in force a store holds now: each read loads the device and resolves
// its wide configs and long rows as the evaluator does (evaluator.Device.InForce).
type StoreRules struct{ Store DeviceLoader }

// InForce implements Rules.
func (s StoreRules) InForce(ctx context.Context, id string) ([]rule.InForce, error) {
	d, err := s.Store.LoadDevice(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("loading the device from the store: %w", err)
	}
	return d.InForce(), nil
}

// staticRules are files' rules, read once: the wide configs by device, the long rows of every
// scope, and the devices' metadata that locates them.
type staticRules struct {
	configs map[string][]threshold.Config
	rows    []rule.Row
	devices map[string]device.Device
}

// StaticRules are the rules of a thresholds file (configs) and a long rules file (rows), read
// once, for the devices as devs locate them (a location's rows apply to its devices); any may be
// empty.
func StaticRules(devs []device.Device, configs []threshold.Config, rows []rule.Row) Rules {
	s := staticRules{configs: map[string][]threshold.Config{}, rows: rows, devices: map[string]device.Device{}}
	for _, c := range configs {
		s.configs[c.DeviceID] = append(s.configs[c.DeviceID], c)
	}
	for _, d := range devs {
		s.devices[d.ID] = d
	}
	return s
}

// InForce implements Rules: the device's rows resolved as the evaluator resolves them.
func (s staticRules) InForce(_ context.Context, id string) ([]rule.InForce, error) {
	d := evaluator.Device{Configs: s.configs[id], Info: s.devices[id]}
	if d.Info.ID == "" {
		d.Info.ID = id
	}
	for _, r := range s.rows {
		if rule.Applies(r.Scope, d.Info) {
			d.Rows = append(d.Rows, r)
		}
	}
	return d.InForce(), nil
}
