package dashboard

import (
	"net/http"
	"sync"
	"testing"

	"github.com/iotwatch/iotwatch/shared/testsupport/lakegen"
)

var (
	benchOnce sync.Once
	benchL    lakegen.Lake
)

// BenchmarkPages times each page over the lake: 100 devices, 30 days of hourly metrics
// and 7 days of raw readings (one a minute: 1,008,000 bronze lines, one file an hour). The
// target is under 300 ms a page; ms/page is reported per page, and for the first page after
// the server starts (it fills the cache).
func BenchmarkPages(b *testing.B) {
	benchOnce.Do(func() { benchL = lakegen.Make(b, lakegen.Options{Devices: 100, RawDays: 7, GoldDays: 30}) })
	// A page's first load after the pages start reads a month of hourly metrics and two of
	// alerts into the cache: a fresh server each time.
	b.Run("first-page-after-start", func(b *testing.B) {
		for b.Loop() {
			s := newServer(b, benchL, nil)
			if code, body := get(b, s, "/device/room-007?range=30d"); code != http.StatusOK {
				b.Fatalf("%d %s", code, body)
			}
			s.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
	})
	s := newServer(b, benchL, nil)
	get(b, s, "/") // the cache loaded: the pages below are what people see from then on
	for _, path := range []string{"/", "/device/room-007", "/device/room-007?range=6h", "/device/room-007?range=7d", "/device/room-007?range=30d",
		"/alerts", "/alerts?open=1&device=room-000", "/heatmap", "/heatmap?by=health&range=7d", "/pipeline"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if code, body := get(b, s, path); code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, code, body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
		})
	}
}
