package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/domain/device"
	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

func newStore(t *testing.T) *dynamostore.Store {
	_, client := awstest.DynamoDB(t)
	awstest.CreateTable(t, client, "iotwatch")
	return dynamostore.New(client, "iotwatch")
}

func TestLoadDeviceReadsEverythingOfOneDevice(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	cfgs := []threshold.Config{
		{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26), SustainSeconds: 300},
		{UserID: "bob", DeviceID: "room-1", TempLowWarning: threshold.Of(18.5), LightNoOccupancy: threshold.Of(300)},
		{UserID: "alice", DeviceID: "room-2", TempWarning: threshold.Of(30)},
	}
	if err := s.PutThresholds(ctx, cfgs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDevices(ctx, []device.Device{{ID: "room-1", Name: "Meeting room", Location: "Floor 2"}}); err != nil {
		t.Fatal(err)
	}
	st := alarm.DeviceState{Last: 42, HasLast: true, Recent: []string{"m:a"}, Rules: map[string]*alarm.RuleState{"temperature_high:alice": {Flags: 3, LastAt: 42, WarnRun: 40, Open: alarm.Warning, OpenStart: 40}}}
	if err := s.SaveState(ctx, "room-1", &st); err != nil {
		t.Fatal(err)
	}
	d, err := s.LoadDevice(ctx, "room-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Info != (device.Device{ID: "room-1", Name: "Meeting room", Location: "Floor 2"}) {
		t.Errorf("Info = %+v", d.Info)
	}
	if fmt.Sprint(d.Configs) != fmt.Sprint(cfgs[:2]) {
		t.Errorf("Configs = %+v; want %+v", d.Configs, cfgs[:2])
	}
	if d.State.Version != 1 || d.State.Last != 42 || *d.State.Rules["temperature_high:alice"] != *st.Rules["temperature_high:alice"] || d.State.Recent[0] != "m:a" {
		t.Errorf("State = %+v", d.State)
	}
	empty, err := s.LoadDevice(ctx, "nowhere")
	if err != nil || len(empty.Configs) != 0 || empty.State.HasLast || empty.Info.ID != "nowhere" {
		t.Errorf("LoadDevice(unknown) = %+v, %v; want an empty device", empty, err)
	}
}

func TestSaveStateIsConditional(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := alarm.DeviceState{Last: 1, HasLast: true}
	if err := s.SaveState(ctx, "d", &a); err != nil || a.Version != 1 {
		t.Fatalf("first save: %v, version %d", err, a.Version)
	}
	stale := alarm.DeviceState{Last: 2, HasLast: true} // read before the first save: version 0
	if err := s.SaveState(ctx, "d", &stale); !errors.Is(err, evaluator.ErrConflict) {
		t.Fatalf("save from a stale read = %v; want ErrConflict", err)
	}
	a.Last = 3
	if err := s.SaveState(ctx, "d", &a); err != nil || a.Version != 2 {
		t.Fatalf("second save: %v, version %d", err, a.Version)
	}
	old := alarm.DeviceState{Version: 1}
	if err := s.SaveState(ctx, "d", &old); !errors.Is(err, evaluator.ErrConflict) {
		t.Fatalf("save at an old version = %v; want ErrConflict", err)
	}
	d, _ := s.LoadDevice(ctx, "d")
	if d.State.Last != 3 || d.State.Version != 2 {
		t.Errorf("stored state = %+v; want last 3 at version 2", d.State)
	}
}

func TestLoadStatesBatchesMoreThan100(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var ids []string
	for i := 0; i < 230; i++ {
		id := fmt.Sprintf("dev-%03d", i)
		ids = append(ids, id)
		if i%2 == 0 {
			st := alarm.DeviceState{Last: int64(i), HasLast: true}
			if err := s.SaveState(ctx, id, &st); err != nil {
				t.Fatal(err)
			}
		}
	}
	states, err := s.LoadStates(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 115 {
		t.Fatalf("LoadStates returned %d states; want 115", len(states))
	}
	for id, st := range states {
		var i int
		fmt.Sscanf(id, "dev-%03d", &i)
		if st.Last != int64(i) || st.Version != 1 {
			t.Errorf("state of %s = %+v", id, st)
		}
	}
}

func TestThresholdsListAndDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var cfgs []threshold.Config
	for i := 0; i < 60; i++ { // more than two BatchWriteItem calls
		cfgs = append(cfgs, threshold.Config{UserID: fmt.Sprintf("user-%02d", i), DeviceID: "room-1", TempWarning: threshold.Of(float64(20 + i%5))})
	}
	if err := s.PutThresholds(ctx, cfgs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListThresholds(ctx, "room-1")
	if err != nil || len(got) != 60 {
		t.Fatalf("ListThresholds = %d configs, %v; want 60", len(got), err)
	}
	if err := s.DeleteThresholds(ctx, "user-07", "room-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThresholds(ctx, "user-07", "room-1"); err == nil || !strings.Contains(err.Error(), "has no thresholds") {
		t.Errorf("second delete = %v; want a clear error", err)
	}
	got, _ = s.ListThresholds(ctx, "room-1")
	if len(got) != 59 {
		t.Errorf("after delete: %d configs; want 59", len(got))
	}
}
