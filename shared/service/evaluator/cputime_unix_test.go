//go:build unix

package evaluator_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time the process has used so far, user and system, all threads (the
// garbage collector's included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuClock reports, besides a benchmark's ns/op (wall time), its cpu-ns/op: on a machine shared
// with other work the wall time of one run swings by a factor of two, the CPU time far less, so
// the ratios of benchmarks are read from both. Start it after the setup; stop it at the end.
func cpuClock(b *testing.B) (stop func()) {
	b.Helper()
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}
