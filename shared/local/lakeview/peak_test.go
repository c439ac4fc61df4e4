package lakeview

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPeakUnit: an episode's peak is in its metric's unit, device_silent's in seconds silent.
func TestPeakUnit(t *testing.T) {
	for _, tc := range []struct {
		rule, metric, want string
	}{
		{"device_silent", "", "s"},
		{"temperature_high", "temperature", "°C"},
		{"co2_high", "co2", "ppm"},
		{"humidity_low", "humidity", "%"},
		{"pm25_high", "pm25", ""}, // a metric the catalog does not declare
	} {
		assert.Equal(t, tc.want, peakUnit(nil, Episode{Rule: tc.rule, Metric: tc.metric}), tc.rule)
	}
}
