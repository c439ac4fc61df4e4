package dynamostore

import (
	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// ToItemForTest exposes the stored shape to the package's external tests.
func ToItemForTest(st alarm.DeviceState) any { return toItem("room-1", evaluator.State{Alarm: st}, 1) }
