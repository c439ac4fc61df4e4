package aggregate

import "math"

// Health is the share of the expected readings that arrived, in percent, capped at 100: gold's
// health_pct (sql/hourly.sql for hourly_metrics and daily_metrics, sql/location_hourly.sql for
// location_hourly, which rounds it to 6 decimals), and every page's Health column:
//
//	health = min(100, readings × 100 / expected)
//
// readings are silver's: each reading's identity once, rejected and quarantined lines not at all.
// expected is the configured readings per device-hour (3600 / the nominal interval) times the
// device-hours counted: gold counts one hour of one device (a day's row: 24), a location's row
// max(devices known, devices reporting) devices. Over a range, the pages count each hour the lake
// aggregated for any device, so that a device silent in an aggregated hour counts as none
// received (a registered device silent all along: 0). ok is false when nothing was expected.
func Health(readings, expected int64) (pct float64, ok bool) {
	if expected <= 0 {
		return 0, false
	}
	return math.Min(100, float64(readings)*100/float64(expected)), true
}
