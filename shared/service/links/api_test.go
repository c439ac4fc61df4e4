package links_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// memStates lists the memstore's states, as the file store does for the run.
type memStates struct{ e *env }

func (m memStates) States() map[string]evaluator.State {
	st, _ := m.e.store.LoadStates(context.Background(), []string{"room-1"})
	return st
}

// TestAPIAnswersThisMachineOnly: the control API acts for a program on this machine (a JSON POST
// to a loopback Host, no Origin) and refuses what a web page in a browser could send: a form or
// text POST, a request with an Origin or cross-site fetch metadata, a rebound Host name.
func TestAPIAnswersThisMachineOnly(t *testing.T) {
	e := newEnv(t)
	e.reading(t, 0, 25)
	api := links.NewAPI(e.store, memStates{e}, e.rec, func() time.Time { return e.now })
	call := func(ct, host string, headers map[string]string) int {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/api/ack", strings.NewReader(`{"alert":"`+e.pub.ns[0].Alert.AlertID+`"}`))
		req.Host = host
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusForbidden, call("text/plain", "127.0.0.1:8080", nil), "a page's no-cors POST")
	assert.Equal(t, http.StatusForbidden, call("application/x-www-form-urlencoded", "127.0.0.1:8080", nil), "a form")
	assert.Equal(t, http.StatusForbidden, call("application/json", "127.0.0.1:8080", map[string]string{"Origin": "https://evil.example"}))
	assert.Equal(t, http.StatusForbidden, call("application/json", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "cross-site"}))
	assert.Equal(t, http.StatusForbidden, call("application/json", "evil.example:8080", nil), "a rebound name")
	assert.False(t, e.acked(t), "nothing was changed")

	require.Equal(t, http.StatusOK, call("application/json; charset=utf-8", "localhost:8080", nil), "the CLI's request, by the OPEN's id")
	assert.True(t, e.acked(t))
	require.Len(t, e.rec.rows, 1)
	row := e.rec.rows[0]
	assert.Equal(t, links.KindAck, row.Kind)
	assert.Equal(t, "cli", row.Via)
	assert.Equal(t, "WARNING", string(row.Severity), "the episode's severity")
	assert.Equal(t, t0.UnixMilli(), row.WindowStartMs, "the episode's OPEN window start")
}
