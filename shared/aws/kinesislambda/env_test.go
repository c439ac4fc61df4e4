package kinesislambda

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantTTL time.Duration
		wantN   int
		wantErr bool
	}{
		{map[string]string{}, 60 * time.Second, 16, false},
		{map[string]string{"CACHE_TTL": "0", "LOAD_CONCURRENCY": "4"}, 0, 4, false},
		{map[string]string{"CACHE_TTL": "5m"}, 5 * time.Minute, 16, false},
		{map[string]string{"CACHE_TTL": "soon"}, 0, 0, true},
		{map[string]string{"CACHE_TTL": "-1s"}, 0, 0, true},
		{map[string]string{"LOAD_CONCURRENCY": "0"}, 0, 0, true},
		{map[string]string{"LOAD_CONCURRENCY": "many"}, 0, 0, true},
	}
	for _, tc := range tests {
		cfg, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
		if (err != nil) != tc.wantErr {
			t.Errorf("ConfigFromEnv(%v) error = %v; want error %v", tc.env, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (cfg.CacheTTL != tc.wantTTL || cfg.LoadConcurrency != tc.wantN) {
			t.Errorf("ConfigFromEnv(%v) = %+v", tc.env, cfg)
		}
	}
}

// TestWriteMetricsIsEMF checks every line is an EMF document whose declared metrics and
// dimensions are present as top-level values.
func TestWriteMetricsIsEMF(t *testing.T) {
	var b bytes.Buffer
	s := evaluator.Stats{Records: 12, Readings: 9, Late: 1, Rejected: map[reading.Reason]int{reading.BadMetric: 2, reading.TooLarge: 1},
		Alerts: map[evaluator.AlertKey]int{{Kind: alert.Open, Severity: alert.Warning}: 3, {Kind: alert.Resolve, Severity: alert.Warning}: 1}, Duration: 1500 * time.Microsecond}
	if err := WriteMetrics(&b, s, map[string]int{"DynamoDB.Query": 2, "DynamoDB.PutItem": 2, "SNS.PublishBatch": 1}, time.UnixMilli(1700000000000)); err != nil {
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
		"Alerts": 4, "Alerts/OPEN/WARNING": 3, "Alerts/RESOLVE/WARNING": 1, "DynamoDBCalls": 4, "SNSCalls": 1, "BatchDuration": 1.5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
	if lines != 5 {
		t.Errorf("%d EMF lines; want 5 (totals, 2 reasons, 2 alert kinds)", lines)
	}
}
