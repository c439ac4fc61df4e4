package links_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

// BenchmarkForgedLink: what a forged link costs the public links function, with 1 and 9,000
// open episodes on its device (9,000 users' rules opened by one reading). The path is refused
// after one HMAC, before the store is read: flat in the number of episodes. (The first links
// read the device, then tried an HMAC per open episode and day, 38 x 9,000 for 9,000 episodes:
// 3.2-3.7 s a request here; docs/benchmarks.md.)
func BenchmarkForgedLink(b *testing.B) {
	for _, n := range []int{1, 9000} {
		b.Run(fmt.Sprintf("episodes=%d", n), func(b *testing.B) {
			st := &reads{Store: openEpisodes(b, n)}
			h := links.NewHandler(mustSigner(b), st, nil, func() time.Time { return t0 }, nil)
			forged := "/a/room-1/" + strings.Repeat("q", links.TokenLen)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, forged, nil))
				if rec.Code != http.StatusGone {
					b.Fatalf("a forged link answered %d", rec.Code)
				}
			}
			if st.n != 0 {
				b.Fatalf("%d reads of the store for forged links", st.n)
			}
		})
	}
}

// openEpisodes is a store where room-1 has n open episodes: n users' temperature_high rules,
// opened by one reading.
func openEpisodes(b *testing.B, n int) *memstore.Store {
	cfgs := make([]threshold.Config, n)
	for i := range cfgs {
		cfgs[i] = threshold.Config{UserID: fmt.Sprintf("user-%d", i), DeviceID: "room-1", TempWarning: threshold.Of(24)}
	}
	store := memstore.New(cfgs, nil)
	svc := evaluator.New(store, &capture{}, noQuarantine{}, evaluator.Config{}, nil, nil)
	data := fmt.Sprintf(`{"device_id":"room-1","event_time":%q,"temperature":25}`, t0.Format(time.RFC3339))
	_, err := svc.Evaluate(context.Background(), []evaluator.Message{{ID: "1", Data: []byte(data), TopicDevice: "room-1"}})
	require.NoError(b, err)
	st, err := store.LoadStates(context.Background(), []string{"room-1"})
	require.NoError(b, err)
	alarmState := st["room-1"].Alarm
	require.Len(b, alarmState.Episodes(), n)
	return store
}
