package evaluator_test

import (
	"testing"
	"time"

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
		cfg, err := evaluator.ConfigFromEnv(func(k string) string { return tc.env[k] })
		if (err != nil) != tc.wantErr {
			t.Errorf("ConfigFromEnv(%v) error = %v; want error %v", tc.env, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (cfg.CacheTTL != tc.wantTTL || cfg.LoadConcurrency != tc.wantN) {
			t.Errorf("ConfigFromEnv(%v) = %+v", tc.env, cfg)
		}
	}
}
