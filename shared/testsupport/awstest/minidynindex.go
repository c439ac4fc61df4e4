package awstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/iotwatch/iotwatch/shared/contract/table"
)

// reindexOnPut works around minidyn v0.8.0 keeping a stale entry in a global secondary index
// when PutItem replaces an item whose index key changes or goes away: its index updates the
// item's reference but not its sorted key list (index.putData), so that a Query of the index
// then misses the item, or lists an item that left a sparse index. Real DynamoDB has no such
// fault; the due index (table.DueIndex) depends on it being right.
//
// After a PutItem that replaced an item, it puts the old item back (the index is consistent
// with it again), deletes it (the index drops it cleanly) and puts the new one (a fresh insert),
// all under one lock, so the emulator's indexes always match its items. The client sees the
// answer of its own PutItem, condition included.
func reindexOnPut(next http.Handler) http.Handler {
	var mu sync.Mutex
	call := func(op string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var in struct {
			TableName string
			Item      map[string]json.RawMessage
		}
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := map[string]json.RawMessage{table.PK: in.Item[table.PK], table.SK: in.Item[table.SK]}
		_, got := call("GetItem", map[string]any{"TableName": in.TableName, "Key": key, "ConsistentRead": true})
		var old struct{ Item map[string]json.RawMessage }
		_ = json.Unmarshal(got, &old)

		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK && len(old.Item) > 0 {
			call("PutItem", map[string]any{"TableName": in.TableName, "Item": old.Item})
			call("DeleteItem", map[string]any{"TableName": in.TableName, "Key": key})
			call("PutItem", map[string]any{"TableName": in.TableName, "Item": in.Item})
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
