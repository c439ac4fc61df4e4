package firehosebronze

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// ObjectPutter is the part of the S3 client the spill calls.
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Spill is where a batched message's line goes for the hours of its elements that Firehose does
// not file it under (DESIGN.md, "Batched messages in the lake"): Firehose's JQ files it under its
// first element's hour; the aggregation of an hour reads that hour's partition only and takes
// from a batched line the elements of that hour. So the same line is written, as its own object,
// into each other hour's bronze partition.
type Spill struct {
	Client ObjectPutter
	Bucket string
	Now    func() time.Time // names the objects (their ingested_at); nil: time.Now
}

// spillLines are the lines of a batch that go to other hours: by hour, each with the index of
// its first Kinesis record and that record's sequence number (which names the object).
type spillLines struct {
	lines map[time.Time][][]byte
	first map[time.Time]int
	seq   map[time.Time]string
}

func (s *spillLines) add(i int, seq string, line []byte) {
	hours := reading.PartitionHours(line, nil)
	for _, h := range hours[min(1, len(hours)):] { // the first is Firehose's
		if s.lines == nil {
			s.lines, s.first, s.seq = map[time.Time][][]byte{}, map[time.Time]int{}, map[time.Time]string{}
		}
		if _, ok := s.first[h]; !ok {
			s.first[h], s.seq[h] = i, seq
		}
		s.lines[h] = append(s.lines[h], line)
	}
}

// put writes each hour's lines as one gzip object, named as the local pipeline names its bronze
// objects (iotwatch-bronze-<Unix ns>-<n>.json.gz: the lake reads the time from it), n the Kinesis
// sequence number of the hour's first record (unique within a shard; with the time, no two
// invocations name the same object). It returns
// the index of the first Kinesis record whose lines could not be written (-1: none), and how
// many objects were written.
func (sp *Spill) put(ctx context.Context, s *spillLines) (failedFrom, written int, err error) {
	if len(s.lines) == 0 {
		return -1, 0, nil
	}
	now := time.Now
	if sp.Now != nil {
		now = sp.Now
	}
	hours := make([]time.Time, 0, len(s.lines))
	for h := range s.lines {
		hours = append(hours, h)
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
	failedFrom = -1
	for _, h := range hours {
		var body bytes.Buffer
		zw := gzip.NewWriter(&body)
		for _, l := range s.lines[h] {
			_, _ = zw.Write(l)
			_, _ = zw.Write([]byte("\n"))
		}
		if cerr := zw.Close(); cerr != nil {
			return 0, written, cerr
		}
		key := fmt.Sprintf("%siotwatch-bronze-%d-%s.json.gz", lake.Partition(lake.Bronze, h), now().UnixNano(), digits(s.seq[h]))
		if _, perr := sp.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(sp.Bucket), Key: aws.String(key),
			Body: bytes.NewReader(body.Bytes()), ContentType: aws.String("application/x-ndjson"), ContentEncoding: aws.String("gzip")}); perr != nil {
			err = fmt.Errorf("writing %s: %w", key, perr)
			if failedFrom < 0 || s.first[h] < failedFrom {
				failedFrom = s.first[h]
			}
			continue
		}
		written++
	}
	return failedFrom, written, err
}

// digits is s's decimal digits (a Kinesis sequence number is digits; "0" if none).
func digits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	if len(b) == 0 {
		return "0"
	}
	return string(b)
}
