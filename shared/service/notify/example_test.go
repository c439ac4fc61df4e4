package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// A webhook receiver checks each request before it trusts it: the body as received, the
// timestamp within 5 minutes of its clock, the signature made with its secret. docs/notify.md
// shows the same steps without this package.
func ExampleVerify() {
	const secret = "whsec_0123456789abcdef" // the channel's secret column
	receive := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		if err := notify.Verify(secret, r.Header.Get("X-Iotwatch-Timestamp"), r.Header.Get("X-Iotwatch-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized) // a 4xx: iotwatch does not retry it
			return
		}
		// Deduplicate by r.Header.Get("X-Iotwatch-Alert-Id"): delivery is at least once.
		fmt.Println("verified alert", r.Header.Get("X-Iotwatch-Alert-Id"))
	}

	body := `{"alert_id":"a1","kind":"OPEN"}`
	ts := time.Now().Unix()
	for _, sig := range []string{notify.Sign(secret, ts, []byte(body)), notify.Sign("another secret!!", ts, []byte(body))} {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		req.Header.Set("X-Iotwatch-Alert-Id", "a1")
		req.Header.Set("X-Iotwatch-Timestamp", fmt.Sprint(ts))
		req.Header.Set("X-Iotwatch-Signature", sig)
		rec := httptest.NewRecorder()
		receive(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// verified alert a1
	// 200
	// 401
}
