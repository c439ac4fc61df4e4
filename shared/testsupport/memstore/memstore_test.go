package memstore_test

import (
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
	"github.com/iotwatch/iotwatch/shared/testsupport/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, cfgs []threshold.Config, devs []device.Device) evaluator.Store {
		return memstore.New(cfgs, devs)
	})
}

func TestRulesContract(t *testing.T) {
	storetest.RunRules(t, func(t *testing.T, rows []rule.Row, devs []device.Device) storetest.RulesStore {
		s := memstore.New(nil, devs)
		s.SetRules(t, rows)
		return s
	})
}
