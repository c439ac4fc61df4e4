package replay

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/local/lakefiles"
)

func TestFix(t *testing.T) {
	tests := []struct {
		name, program, in string
		out               string // "" with keep false: left in quarantine
		err               string
	}{
		{"a comma decimal mended", `.temperature |= (sub(","; ".") | tonumber)`, `{"device_id":"room-1","temperature":"21,5"}`, `{"device_id":"room-1","temperature":21.5}`, ""},
		{"not JSON: the text as a string", `sub(";"; ",") | fromjson`, `{"device_id":"room-1";"co2":400}`, `{"co2":400,"device_id":"room-1"}`, ""},
		{"left out", `select(.temperature < 100)`, `{"temperature":999}`, "", ""},
		{"more than one output", `.a, .b`, `{"a":1,"b":2}`, "", "more than one output"},
		{"a runtime error", `.temperature | tonumber`, `{"temperature":"hot"}`, "", "the fix failed"},
		{"identity", `.`, `{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z"}`, `{"device_id":"room-1","event_time":"2026-03-01T08:00:00Z"}`, ""},
		{"a big number keeps its digits", `.msg_id |= tostring`, `{"msg_id":12345678901234567890}`, `{"msg_id":"12345678901234567890"}`, ""},
		{"null is not a message", `null`, `{"a":1}`, "", "the fix gave null"},
		{"not JSON, passed through as it is", `.`, `temperature=21`, "temperature=21", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := CompileFix(tc.program)
			require.NoError(t, err)
			out, keep, err := f.Apply(context.Background(), []byte(tc.in))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.out != "", keep)
			if tc.out != "" && json.Valid([]byte(tc.out)) {
				assert.JSONEq(t, tc.out, string(out))
			} else if tc.out != "" {
				assert.Equal(t, tc.out, string(out))
			}
		})
	}
	_, err := CompileFix(`.temperature |=`)
	assert.ErrorContains(t, err, `--fix ".temperature |="`)
	runaway, err := CompileFix(`def f: f; f`)
	require.NoError(t, err)
	runaway.Timeout = 50 * time.Millisecond
	_, _, err = runaway.Apply(context.Background(), []byte(`{}`))
	assert.ErrorContains(t, err, "the fix failed", "a runaway program is stopped")
}

// TestReadAndPrepare: the records of the hours and reason asked, the fix applied, the device
// from the topic or the message, and what cannot go left with its reason.
func TestReadAndPrepare(t *testing.T) {
	root := t.TempDir()
	q := lakefiles.NewQuarantine(root)
	at := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	require.NoError(t, q.Put(context.Background(), "b1", []lake.Rejected{
		{Reason: "bad_metric", ArrivalTime: at, TopicDevice: "room-1", DataBase64: []byte(`{"device_id":"room-1","event_time":"2026-03-01T08:29:00Z","temperature":"21,5"}`)},
		{Reason: "bad_metric", ArrivalTime: at.Add(time.Minute), DataBase64: []byte(`{"device_id":"room-2","event_time":"2026-03-01T08:29:00Z","temperature":"22,5"}`)},
		{Reason: "bad_metric", ArrivalTime: at.Add(2 * time.Minute), DataBase64: []byte(`{"temperature":"23,5"}`)},
		{Reason: "malformed_json", ArrivalTime: at.Add(3 * time.Minute), TopicDevice: "room-1", DataBase64: []byte(`{nope`)},
	}))
	require.NoError(t, q.Put(context.Background(), "b2", []lake.Rejected{
		{Reason: "bad_metric", ArrivalTime: at.Add(2 * time.Hour), TopicDevice: "room-1", DataBase64: []byte(`{"temperature":"1,5"}`)}}))
	recs, err := Read(context.Background(), Dir{root}, Filter{From: at.Truncate(time.Hour), To: at.Truncate(time.Hour).Add(time.Hour), Reason: "bad_metric"})
	require.NoError(t, err)
	require.Len(t, recs, 3, "bad_metric of 08:00 only")
	fix, err := CompileFix(`.temperature |= (sub(","; ".") | tonumber)`)
	require.NoError(t, err)
	p := Prepare(context.Background(), recs, fix)
	require.Len(t, p.Send, 2)
	assert.Equal(t, "room-1", p.Send[0].Device)
	assert.JSONEq(t, `{"device_id":"room-1","event_time":"2026-03-01T08:29:00Z","temperature":21.5}`, string(p.Send[0].Data))
	assert.Equal(t, "room-2", p.Send[1].Device, "from the message when the topic's is not known")
	require.Len(t, p.Skip, 1)
	assert.Contains(t, p.Skip[0].Why, "no valid device id")
	all, err := Read(context.Background(), Dir{root}, Filter{From: at.Add(-time.Hour), To: at.Add(3 * time.Hour), Device: "room-1"})
	require.NoError(t, err)
	assert.Len(t, all, 3, "room-1's, by their topic")
	all, err = Read(context.Background(), Dir{root}, Filter{From: at.Add(-time.Hour), To: at.Add(3 * time.Hour), Device: "room-2"})
	require.NoError(t, err)
	assert.Len(t, all, 1, "room-2's, by its message (no topic device)")
}

func TestTextEscapesControlCharacters(t *testing.T) {
	assert.Equal(t, `{"a":"x\u001b[2J\u000ay"}`, Text([]byte("{\"a\":\"x\x1b[2J\ny\"}"), 80))
	assert.Equal(t, "éé…", Text([]byte("ééé"), 2), "cut on a character, not a byte")
	assert.Equal(t, "(2 bytes, not text)", Text([]byte{0xff, 0xfe}, 80))
}
