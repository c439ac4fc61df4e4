// Package evaltest makes the readings, thresholds and expected alerts that the evaluation
// service's tests and benchmarks share, at every edge (the service, the Kinesis handler, the local
// pipeline). Test code only.
package evaltest

import (
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// Stream makes readings of devices×n minutes whose temperatures cross the thresholds of Configs
// often, as messages with increasing ids (Kinesis-like sequence numbers), and each device's
// payloads in order.
func Stream(devices, n int, start time.Time) ([]evaluator.Message, map[string][][]byte) {
	var msgs []evaluator.Message
	perDevice := map[string][][]byte{}
	seq := new(big.Int).SetUint64(1 << 62)
	for m := 0; m < n; m++ {
		for d := 0; d < devices; d++ {
			id := fmt.Sprintf("dev-%03d", d)
			temp := 21 + 4*math.Sin(float64(m)/(7+float64(d%5))) + float64(d%3)*0.3
			occ := (m / 30) % 2
			light := 50.0
			if m%17 < 6 {
				light = 500
			}
			data := fmt.Sprintf(`{"device_id":%q,"event_time":%q,"temperature":%.2f,"humidity":30,"light":%g,"co2":600,"occupancy":%d,"msg_id":"%s-%d"}`,
				id, start.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), temp, light, occ, id, start.Unix()/60+int64(m))
			seq.Add(seq, big.NewInt(1))
			msgs = append(msgs, evaluator.Message{ID: seq.String(), Source: "shardId-000000000001:" + seq.String(), Data: []byte(data),
				TopicDevice: id, Arrival: start.Add(time.Duration(m)*time.Minute + time.Second)})
			perDevice[id] = append(perDevice[id], []byte(data))
		}
	}
	return msgs, perDevice
}

// Configs are three users' thresholds for each of the devices of Stream.
func Configs(devices int) []threshold.Config {
	var cfgs []threshold.Config
	for d := 0; d < devices; d++ {
		id := fmt.Sprintf("dev-%03d", d)
		cfgs = append(cfgs,
			threshold.Config{UserID: "alice", DeviceID: id, TempWarning: threshold.Of(23), TempViolation: threshold.Of(24.5), SustainSeconds: 120},
			threshold.Config{UserID: "bob", DeviceID: id, TempLowWarning: threshold.Of(19), TempLowViolation: threshold.Of(17.5)},
			threshold.Config{UserID: "carol", DeviceID: id, LightNoOccupancy: threshold.Of(300), SustainSeconds: 60},
		)
	}
	return cfgs
}

// Expected runs the alarm core directly over each device's readings: the alerts, by id, that a
// fault-free pipeline must deliver.
func Expected(t testing.TB, perDevice map[string][][]byte, cfgs []threshold.Config) map[string]alert.Alert {
	t.Helper()
	out := map[string]alert.Alert{}
	for id, lines := range perDevice {
		var mine []threshold.Config
		for _, c := range cfgs {
			if c.DeviceID == id {
				mine = append(mine, c)
			}
		}
		d := alarm.NewDevice(&alarm.DeviceState{}, mine)
		for _, l := range lines {
			r, err := reading.Decode(l, reading.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d.Apply(&r, func(a alert.Alert) { out[a.AlertID] = a })
		}
	}
	return out
}
