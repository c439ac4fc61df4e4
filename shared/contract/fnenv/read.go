package fnenv

import (
	"fmt"
	"strconv"
	"time"
)

// Int reads the variable name with getenv (os.Getenv) as a whole number from lo to hi; def
// when it is not set.
func Int(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// Duration reads the variable name with getenv (os.Getenv) as a Go duration, 0 or more; def
// when it is not set.
func Duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return def, fmt.Errorf("%s=%q: want a duration such as 60s", name, v)
	}
	return d, nil
}
