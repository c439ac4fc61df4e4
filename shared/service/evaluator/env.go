package evaluator

import "github.com/iotwatch/iotwatch/shared/contract/fnenv"

// ConfigFromEnv reads the service's settings from a function's environment (getenv is
// os.Getenv), as the evaluate and silence functions run it: fnenv.CacheTTL (a Go duration, 0
// disables) and fnenv.LoadConcurrency (1 to 256), each defaulting to DefaultConfig.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig
	var err error
	if cfg.CacheTTL, err = fnenv.Duration(getenv, fnenv.CacheTTL, cfg.CacheTTL); err != nil {
		return cfg, err
	}
	cfg.LoadConcurrency, err = fnenv.Int(getenv, fnenv.LoadConcurrency, cfg.LoadConcurrency, 1, 256)
	return cfg, err
}
