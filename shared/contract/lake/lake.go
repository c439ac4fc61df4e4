// Package lake is the layout of the data lake (DESIGN.md, "Where the lake lives"): its prefixes,
// hour partitions, and the records of its quarantine, written as gzip JSON lines the way Firehose
// writes bronze. It writes bytes, not objects: S3 and the local file system each have an adapter.
package lake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The lake's top-level prefixes.
const (
	Bronze     = "bronze"
	Quarantine = "quarantine"
	Alerts     = "alerts"
	Gold       = "gold"
	Errors     = "errors"
)

// Partition returns "prefix/dt=YYYY-MM-DD/hour=HH/" for the UTC hour of t.
func Partition(prefix string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s/dt=%s/hour=%02d/", prefix, t.Format("2006-01-02"), t.Hour())
}

// Rejected is one quarantined record: why it was refused, and the original bytes.
type Rejected struct {
	Reason      string    `json:"reason"`
	Detail      string    `json:"detail"`
	ArrivalTime time.Time `json:"arrival_time"`
	TopicDevice string    `json:"topic_device,omitempty"`
	Source      string    `json:"source,omitempty"` // e.g. the Kinesis event id: shard and sequence number
	DataBase64  []byte    `json:"data_base64"`      // the original bytes, exactly as received
	DataText    string    `json:"data,omitempty"`   // the same, when it is valid UTF-8 and short enough to read
}

// GzipJSONLines encodes values as gzip-compressed JSON lines.
func GzipJSONLines[T any](values []T) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for i := range values {
		if err := enc.Encode(values[i]); err != nil {
			return nil, fmt.Errorf("encoding line %d: %w", i+1, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	return buf.Bytes(), nil
}

// QuarantineObjects groups a batch's rejected records by arrival hour and encodes each group as
// one object: key (quarantine/dt=…/hour=…/<batch>.json.gz) to gzip JSON lines. The key derives
// from the batch, so a retried batch overwrites its own objects.
func QuarantineObjects(batchKey string, recs []Rejected, now time.Time) (map[string][]byte, error) {
	byHour := map[string][]Rejected{}
	for _, r := range recs {
		t := r.ArrivalTime
		if t.IsZero() {
			t = now
		}
		p := Partition(Quarantine, t)
		byHour[p] = append(byHour[p], r)
	}
	out := make(map[string][]byte, len(byHour))
	for p, group := range byHour {
		body, err := GzipJSONLines(group)
		if err != nil {
			return nil, fmt.Errorf("encoding quarantine records: %w", err)
		}
		out[p+ObjectName(batchKey)] = body
	}
	return out, nil
}

// ObjectName turns a batch key (a Kinesis event id, "shardId-…:4959…") into a file name.
func ObjectName(batchKey string) string {
	r := strings.NewReplacer(":", "-", "/", "-", " ", "-")
	return r.Replace(batchKey) + ".json.gz"
}
