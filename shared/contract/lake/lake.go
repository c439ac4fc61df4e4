// Package lake is the layout of the data lake (DESIGN.md, "Where the lake lives"): its prefixes,
// hour partitions, and the records of its quarantine, written as gzip JSON lines the way Firehose
// writes bronze. It writes bytes, not objects: S3 and the local file system each have an adapter.
package lake

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The lake's top-level prefixes.
// RecordDelimiter separates the messages of a Firehose record of the bronze function
// (shared/aws/firehosebronze); the bronze stream's RecordDeAggregation processor splits on it.
const RecordDelimiter = "\n"

const (
	Bronze     = "bronze"
	Quarantine = "quarantine"
	Alerts     = "alerts"
	Gold       = "gold"
	Errors     = "errors"
	// Rejections indexes the rejected readings by the hour bronze files them under, so that the
	// aggregation counts exactly what the evaluation accepted (RejectionsTable).
	Rejections = "rejections"
)

// Partition returns "prefix/dt=YYYY-MM-DD/hour=HH/" for the UTC hour of t.
func Partition(prefix string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s/dt=%s/hour=%02d/", prefix, t.Format("2006-01-02"), t.Hour())
}

// Rejected is one quarantined record: why it was refused, and the original bytes.
type Rejected struct {
	// Element is the index (from 0) of the rejected element of a batched message; nil when the
	// message is rejected whole (or is a single reading). The message's bytes are kept either way.
	Element     *int      `json:"element,omitempty"`
	Reason      string    `json:"reason"`
	Detail      string    `json:"detail"`
	ArrivalTime time.Time `json:"arrival_time"`
	TopicDevice string    `json:"topic_device,omitempty"`
	Source      string    `json:"source,omitempty"` // e.g. the Kinesis event id: shard and sequence number
	DataBase64  []byte    `json:"data_base64"`      // the original bytes, exactly as received
	DataText    string    `json:"data,omitempty"`   // the same, when it is valid UTF-8 and short enough to read
	// BronzeHours are the hours bronze files the message under (reading.PartitionHours: its
	// event_time's, a batch's each element's), none when bronze files it under errors/: the
	// rejections index of each names the message.
	BronzeHours []time.Time `json:"-"`
}

// Rejection is one line of the rejections index (RejectionsTable): a bronze line the evaluation
// rejected, by the MD5 of its text, so that the aggregation does not count it.
type Rejection struct {
	LineMD5 string `json:"line_md5"`
	Reason  string `json:"reason"`
	Source  string `json:"source,omitempty"`
}

// LineMD5 is the lowercase hex MD5 of a message as its bronze line reads it: without the line
// ends a delimiter leaves (Firehose appends a newline; readers split lines at CR and LF).
func LineMD5(data []byte) string {
	sum := md5.Sum(bytes.TrimRight(data, "\r\n"))
	return hex.EncodeToString(sum[:])
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

// QuarantineObjects encodes a batch's rejected records as lake objects, key to gzip JSON lines:
// the records grouped by arrival hour (quarantine/dt=…/hour=…/<batch>.json.gz), and their
// rejections index grouped by the hour bronze files them under (rejections/dt=…/hour=…/<batch>.json.gz).
// The keys derive from the batch, so a retried batch overwrites its own objects.
func QuarantineObjects(batchKey string, recs []Rejected, now time.Time) (map[string][]byte, error) {
	byHour := map[string][]Rejected{}
	index := map[string][]Rejection{}
	for _, r := range recs {
		t := r.ArrivalTime
		if t.IsZero() {
			t = now
		}
		p := Partition(Quarantine, t)
		byHour[p] = append(byHour[p], r)
		for _, h := range r.BronzeHours {
			p := Partition(Rejections, h)
			index[p] = append(index[p], Rejection{LineMD5: LineMD5(r.DataBase64), Reason: r.Reason, Source: r.Source})
		}
	}
	out := make(map[string][]byte, len(byHour)+len(index))
	for p, group := range byHour {
		body, err := GzipJSONLines(group)
		if err != nil {
			return nil, fmt.Errorf("encoding quarantine records: %w", err)
		}
		out[p+ObjectName(batchKey)] = body
	}
	for p, group := range index {
		body, err := GzipJSONLines(group)
		if err != nil {
			return nil, fmt.Errorf("encoding the rejections index: %w", err)
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

// BronzeLine is a message as bronze keeps it, one line: without the line ends after it (a
// delimiter's, as LineMD5 and the decoder take them), and whether it can be one line at all. A
// message with a line break inside it, or nothing but line ends, cannot: split, it would make lines
// the decoder never accepted. Bronze leaves it out; the evaluation quarantines it whole.
func BronzeLine(data []byte) ([]byte, bool) {
	line := bytes.TrimRight(data, "\r\n")
	return line, len(line) > 0 && !bytes.ContainsAny(line, "\r\n")
}
