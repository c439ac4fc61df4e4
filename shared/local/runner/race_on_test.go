//go:build race

package runner_test

// raceEnabled: the race detector multiplies memory and time; the crash and overload tests, which
// are about processes and memory rather than races, skip under it.
const raceEnabled = true
