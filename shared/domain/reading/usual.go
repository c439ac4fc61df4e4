package reading

// UsualRange is the band a metric keeps in an occupied indoor room. A reading outside it is
// flagged in silver (out_of_range), without state and without alerting: the thresholds each user
// sets decide alerts. The bands follow the usual indoor comfort guidance (EN 16798-1 and ASHRAE 55
// for temperature and humidity; CO2 above 1,500 ppm is poor air in EN 16798-1's lowest category).
type UsualRange struct {
	Metric    Metric
	Low, High float64 // inclusive
}

// UsualRanges are the metrics with a usual range; light, humidity_ratio and occupancy have none.
var UsualRanges = []UsualRange{
	{Temperature, 16, 28},
	{Humidity, 20, 70},
	{CO2, 0, 1500},
}

// OutOfUsualRange lists the metrics of r outside their usual range, in contract order.
func OutOfUsualRange(r Reading) []Metric {
	var out []Metric
	for _, u := range UsualRanges {
		if v, ok := r.Value(u.Metric); ok && (v < u.Low || v > u.High) {
			out = append(out, u.Metric)
		}
	}
	return out
}
