package aggregate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/service/aggregate"
)

func TestConfigFromEnv(t *testing.T) {
	def := aggregate.DefaultConfig
	for _, tc := range []struct {
		env      map[string]string
		late     int
		interval time.Duration
		wantErr  string
	}{
		{env: map[string]string{}, late: def.LateHours, interval: def.Interval},
		{env: map[string]string{"LATE_HOURS": "0", "INTERVAL_SECONDS": "3600"}, late: 0, interval: time.Hour},
		{env: map[string]string{"LATE_HOURS": "48", "INTERVAL_SECONDS": "1"}, late: 48, interval: time.Second},
		{env: map[string]string{"LATE_HOURS": "49"}, wantErr: `LATE_HOURS="49": want a whole number from 0 to 48`},
		{env: map[string]string{"LATE_HOURS": "-1"}, wantErr: "LATE_HOURS"},
		{env: map[string]string{"LATE_HOURS": "two"}, wantErr: "LATE_HOURS"},
		{env: map[string]string{"INTERVAL_SECONDS": "0"}, wantErr: `INTERVAL_SECONDS="0": want a whole number from 1 to 3600`},
		{env: map[string]string{"INTERVAL_SECONDS": "60s"}, wantErr: "INTERVAL_SECONDS"},
	} {
		cfg, err := aggregate.ConfigFromEnv(func(k string) string { return tc.env[k] })
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ConfigFromEnv(%v) error = %v; want %q", tc.env, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ConfigFromEnv(%v): %v", tc.env, err)
		case cfg.LateHours != tc.late || cfg.Interval != tc.interval || cfg.MaxHours != def.MaxHours || cfg.Concurrency != def.Concurrency:
			t.Errorf("ConfigFromEnv(%v) = %+v", tc.env, cfg)
		}
	}
}
