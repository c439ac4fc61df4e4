package lambdametrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/iotwatch/iotwatch/shared/contract/emf"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

// TestWriteIsEMF checks every line is an EMF document whose declared metrics and
// dimensions are present as top-level values.
func TestWriteIsEMF(t *testing.T) {
	var b bytes.Buffer
	s := evaluator.Stats{Records: 12, Readings: 9, Late: 1, Rejected: map[reading.Reason]int{reading.BadMetric: 2, reading.TooLarge: 1},
		Alerts: map[evaluator.AlertKey]int{{Kind: alert.Open, Severity: alert.Warning}: 3, {Kind: alert.Resolve, Severity: alert.Warning}: 1}, Duration: 1500 * time.Microsecond}
	if err := Write(&b, "evaluate", s, map[string]int{"DynamoDB.Query": 2, "DynamoDB.PutItem": 2, "SNS.PublishBatch": 1}, time.UnixMilli(1700000000000), Metric{"DueDevices", emf.Count, 7}); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(&b)
	lines := 0
	for sc.Scan() {
		lines++
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d is not JSON: %s", lines, sc.Text())
		}
		aws := doc["_aws"].(map[string]any)
		if aws["Timestamp"].(float64) != 1700000000000 {
			t.Errorf("Timestamp = %v", aws["Timestamp"])
		}
		assert.Equal(t, "evaluate", doc["Function"])
		d := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if d["Namespace"] != "iotwatch" {
			t.Errorf("Namespace = %v", d["Namespace"])
		}
		key := ""
		for _, dim := range d["Dimensions"].([]any)[0].([]any) {
			v, ok := doc[dim.(string)].(string)
			if !ok {
				t.Errorf("dimension %v has no value in %s", dim, sc.Text())
			}
			if dim != "Function" {
				key += "/" + v
			}
		}
		for _, m := range d["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			v, ok := doc[name].(float64)
			if !ok {
				t.Errorf("metric %s has no value in %s", name, sc.Text())
			}
			got[name+key] = v
		}
	}
	want := map[string]float64{"Readings": 9, "Late": 1, "Rejected": 3, "Rejected/bad_metric": 2, "Rejected/too_large": 1,
		"Alerts": 4, "Alerts/OPEN/WARNING": 3, "Alerts/RESOLVE/WARNING": 1, "DynamoDBCalls": 4, "SNSCalls": 1, "BatchDuration": 1.5, "DueDevices": 7}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
	if lines != 5 {
		t.Errorf("%d EMF lines; want 5 (totals, 2 reasons, 2 alert kinds)", lines)
	}
}
