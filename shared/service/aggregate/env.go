package aggregate

import (
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
)

// ConfigFromEnv reads the handler's settings from the aggregate function's environment (getenv
// is os.Getenv): fnenv.LateHours (0 to 48) and fnenv.IntervalSeconds (1 to 3600), each
// defaulting to DefaultConfig.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig
	late, err := fnenv.Int(getenv, fnenv.LateHours, cfg.LateHours, 0, 48)
	if err != nil {
		return cfg, err
	}
	secs, err := fnenv.Int(getenv, fnenv.IntervalSeconds, int(cfg.Interval/time.Second), 1, 3600)
	if err != nil {
		return cfg, err
	}
	cfg.LateHours, cfg.Interval = late, time.Duration(secs)*time.Second
	return cfg, nil
}
