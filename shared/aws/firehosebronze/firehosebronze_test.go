package firehosebronze_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/firehosebronze"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

func TestFrame(t *testing.T) {
	for _, tc := range []struct {
		name, in, line string
		ok             bool
	}{
		{"compact JSON", `{"a":1}`, `{"a":1}`, true},
		{"a device's newline after it", "{\"a\":1}\n", `{"a":1}`, true},
		{"CRLF after it", "{\"a\":1}\r\n\r\n", `{"a":1}`, true},
		{"not JSON is kept as it is", `not json`, `not json`, true},
		{"a line break inside", "{\"a\":\n1}", "", false},
		{"a CR inside", "{\"a\":\r1}", "", false},
		{"nothing but line ends", "\r\n", "", false},
		{"empty", "", "", false},
		{"over a Firehose record", strings.Repeat("x", firehosebronze.MaxRecordBytes+1), "", false},
		{"a Firehose record exactly", strings.Repeat("x", firehosebronze.MaxRecordBytes), strings.Repeat("x", firehosebronze.MaxRecordBytes), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, ok := firehosebronze.Frame([]byte(tc.in))
			assert.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.line, string(line))
			}
		})
	}
}

const stream = "iotwatch-bronze"

// readingAt is a reading of a device at a time, ~110 bytes; pad makes it longer.
func readingAt(i int, at time.Time, pad int) []byte {
	return []byte(fmt.Sprintf(`{"device_id":"room-%d","event_time":"%s","msg_id":"m-%d","temperature":21.5,"note":"%s"}`,
		i%50, at.Format(time.RFC3339), i, strings.Repeat("p", pad)))
}

func kinesisEvent(msgs [][]byte, from int) events.KinesisEvent {
	var ev events.KinesisEvent
	for i := from; i < len(msgs); i++ {
		var r events.KinesisEventRecord
		r.EventID = fmt.Sprintf("shardId-000000000000:%d", i)
		r.Kinesis.SequenceNumber = fmt.Sprintf("%056d", i)
		r.Kinesis.Data = msgs[i]
		ev.Records = append(ev.Records, r)
	}
	return ev
}

// bronzeLines reads every object under prefix: its lines, in no order, with their counts.
func bronzeLines(t *testing.T, client *s3.Client, bucket, prefix string) map[string]int {
	t.Helper()
	lines := map[string]int{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, o := range page.Contents {
			obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			require.NoError(t, err)
			zr, err := gzip.NewReader(obj.Body)
			require.NoError(t, err)
			body, err := io.ReadAll(zr)
			require.NoError(t, err)
			obj.Body.Close()
			require.True(t, bytes.HasSuffix(body, []byte("\n")), "%s does not end in a newline", *o.Key)
			for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
				lines[l]++
			}
		}
	}
	return lines
}

// deliver hands msgs to the forwarder as the event source mapping does: batches of up to size from
// a position; a batch item failure delivers again from its record. before runs before each
// delivery (numbered from 1). It returns the number of deliveries.
func deliver(t *testing.T, fw *firehosebronze.Forwarder, msgs [][]byte, size int, before func(n int)) int {
	t.Helper()
	pos, deliveries := 0, 0
	for pos < len(msgs) {
		deliveries++
		require.Less(t, deliveries, 500, "the batches never got through")
		if before != nil {
			before(deliveries)
		}
		ev := kinesisEvent(msgs[:min(len(msgs), pos+size)], pos)
		resp, err := fw.Handle(context.Background(), ev)
		require.NoError(t, err)
		if len(resp.BatchItemFailures) == 0 {
			pos += len(ev.Records)
			continue
		}
		require.Len(t, resp.BatchItemFailures, 1)
		var next int
		fmt.Sscanf(resp.BatchItemFailures[0].ItemIdentifier, "%d", &next)
		require.GreaterOrEqual(t, next, pos)
		pos = next
	}
	return deliveries
}

// Large messages: a batch takes several Firehose records (1,000 KiB each at most) and several
// PutRecordBatch calls (4 MiB each at most); records refused in a later call are sent again
// and none is lost.
func TestLargeMessagesTakeSeveralCalls(t *testing.T) {
	const bucket = "lake"
	_, s3c := awstest.S3(t, bucket)
	fh := awstest.FirehoseStream(t, s3c, bucket, stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	fh.SetRefuseRate(0.4)
	fw := firehosebronze.New(fh.Client(), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fw.Backoff, fw.Attempts = time.Millisecond, 1
	var calls, failed int
	fw.Observe = func(s firehosebronze.Stats) { calls, failed = calls+s.Calls, failed+s.Failed }
	base := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	var msgs [][]byte
	for i := 0; i < 40; i++ {
		msgs = append(msgs, readingAt(i, base.Add(time.Duration(i)*time.Second), 120*1024))
	}
	deliveries := deliver(t, fw, msgs, len(msgs), nil)
	got := bronzeLines(t, s3c, bucket, lake.Bronze+"/")
	for i, m := range msgs {
		assert.Positive(t, got[string(m)], "message %d lost", i)
	}
	assert.Len(t, got, len(msgs))
	t.Logf("%d deliveries, %d calls, %d Firehose records refused to the end", deliveries, calls, failed)
	assert.Greater(t, calls, deliveries, "a delivery took several calls")
	assert.Positive(t, failed, "refusals made deliveries come again")
}

// Under Firehose refusing records, failing calls and losing answers, every message that can be a
// line reaches bronze, in its hour's partition, with its bytes as sent; nothing else does; a
// repeat comes only from a retry.
func TestEveryMessageReachesBronze(t *testing.T) {
	const bucket = "lake"
	_, s3c := awstest.S3(t, bucket)
	fh := awstest.FirehoseStream(t, s3c, bucket, stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	faults := awstest.NewFaults(0.3, 3)
	faults.DropRate = 0.2
	fh.SetRefuseRate(0.3)
	fw := firehosebronze.New(fh.Client(awstest.WithTransport(faults)), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fw.Backoff, fw.Attempts = time.Millisecond, 2 // few attempts: some batches must give up and come again
	var stats []firehosebronze.Stats
	fw.Observe = func(s firehosebronze.Stats) { stats = append(stats, s) }

	base := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	var msgs [][]byte
	want := map[string]string{} // line -> partition
	for i := 0; i < 6000; i++ {
		at := base.Add(time.Duration(i) * 1700 * time.Millisecond) // ~3 hours
		m := readingAt(i, at, i%7*40)
		if i%500 == 3 {
			m = append(m, '\n') // a device that ends its messages with a newline
		}
		msgs = append(msgs, m)
		want[strings.TrimSuffix(string(m), "\n")] = lake.Partition(lake.Bronze, at)
	}
	unframed := [][]byte{[]byte("{\"device_id\":\"room-1\",\n\"event_time\":\"2026-12-02T05:00:00Z\"}"), []byte("\r\n"), {}}
	for i, u := range unframed {
		msgs = append(msgs[:1000*(i+1)], append([][]byte{u}, msgs[1000*(i+1):]...)...)
	}
	notJSON := []byte("garbage from a broken device")
	msgs = append(msgs, notJSON)

	deliveries := deliver(t, fw, msgs, 600, func(n int) { // 2 Firehose records a batch
		switch n { // an outage: Firehose refuses everything for two deliveries
		case 4:
			fh.SetRefuseRate(1)
		case 6:
			fh.SetRefuseRate(0.3)
		}
	})

	got := bronzeLines(t, s3c, bucket, lake.Bronze+"/")
	repeats := 0
	for line, partition := range want {
		n := got[line]
		if n == 0 {
			t.Errorf("lost: %.60s… (for %s)", line, partition)
		}
		repeats += n - 1
	}
	assert.Len(t, got, len(want), "bronze holds a line that was not a message")
	errs := bronzeLines(t, s3c, bucket, "errors/")
	assert.Contains(t, errs, string(notJSON), "a line Firehose cannot partition goes to errors/, as before")
	for _, u := range unframed {
		assert.NotContains(t, errs, strings.TrimRight(string(u), "\r\n"))
	}
	// each line in its hour: listed per partition
	for _, h := range []int{5, 6, 7} {
		at := base.Add(time.Duration(h-5) * time.Hour)
		lines := bronzeLines(t, s3c, bucket, lake.Partition(lake.Bronze, at))
		for line := range lines {
			assert.Equal(t, lake.Partition(lake.Bronze, at), want[line], "%.60s… is in the wrong hour", line)
		}
	}
	var unframedSeen, failed int
	for _, s := range stats {
		unframedSeen += s.Unframed
		failed += s.Failed
	}
	injected, total := faults.Counts()
	t.Logf("faults: %d of %d requests", injected, total)
	dropped, _ := faults.Dropped()
	t.Logf("%d deliveries, %d injected call failures, %d lost answers, %d batches retried, %d repeated lines", deliveries, injected, dropped, failed, repeats)
	assert.Positive(t, injected+dropped, "the faults did not happen: the test proves nothing")
	assert.Positive(t, failed, "no batch was retried: the test proves nothing of retries")
	assert.GreaterOrEqual(t, unframedSeen, len(unframed), "the unframed messages are counted (again when their batch is retried)")
}

// What Firehose bills: each record rounded up to 5 KB. One reading a record (Firehose reading the
// stream) against the forwarder's records, for the same 10,000 readings of ~250 bytes.
func TestBilledBytes(t *testing.T) {
	const bucket = "lake"
	_, s3c := awstest.S3(t, bucket)
	fh := awstest.FirehoseStream(t, s3c, bucket, stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	fw := firehosebronze.New(fh.Client(), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	base := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	var msgs [][]byte
	var raw int64
	for i := 0; i < 10000; i++ {
		msgs = append(msgs, readingAt(i, base.Add(time.Duration(i)*time.Second), 140))
		raw += int64(len(msgs[i]))
	}
	for pos := 0; pos < len(msgs); pos += 6500 { // what Lambda's 6 MB event holds of these
		resp, err := fw.Handle(context.Background(), kinesisEvent(msgs[:min(len(msgs), pos+6500)], pos))
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
	}
	c := fh.Counts()
	perReading := int64(len(msgs)) * 5000
	t.Logf("%d readings of %d bytes on average: %d Firehose records, billed %d bytes (one a record: %d, %.1fx more)",
		len(msgs), raw/int64(len(msgs)), c.Records, c.Billed, perReading, float64(perReading)/float64(c.Billed))
	assert.Equal(t, len(msgs), c.Lines)
	assert.Equal(t, 20, c.Records, "500 readings a record")
	assert.Less(t, c.Billed, raw*11/10, "billed within 10%% of the bytes")
	assert.Greater(t, perReading, 15*c.Billed)
}

// BenchmarkForward is 10,000 readings of ~250 bytes (the mapping's batch size; Lambda's 6 MB
// event holds ~6,500 of them) put on a Firehose fake that accepts without delivering: the
// function's own time, SDK included.
func BenchmarkForward(b *testing.B) {
	_, s3c := awstest.S3(b, "lake")
	fh := awstest.FirehoseStream(b, s3c, "lake", stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	fh.Discard = true
	fw := firehosebronze.New(fh.Client(), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	base := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	var msgs [][]byte
	for i := 0; i < 10000; i++ {
		msgs = append(msgs, readingAt(i, base.Add(time.Duration(i)*time.Second), 140))
	}
	ev := kinesisEvent(msgs, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := fw.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatal(err, resp)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
}

// A message Firehose cannot partition (no event_time) travels in a record of its own: even if
// Firehose sent a whole record to errors/ for one bad message in it, no reading goes with it.
func TestAnUnpartitionableMessageTravelsAlone(t *testing.T) {
	const bucket = "lake"
	_, s3c := awstest.S3(t, bucket)
	fh := awstest.FirehoseStream(t, s3c, bucket, stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	fh.WholeRecordErrors = true
	fw := firehosebronze.New(fh.Client(), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var st firehosebronze.Stats
	fw.Observe = func(s firehosebronze.Stats) { st = s }
	base := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	var msgs [][]byte
	bad := []string{`{"device_id":"room-1","temperature":21}`, `{"device_id":"room-2","event_time":"yesterday"}`, `not json`}
	for i := 0; i < 1200; i++ {
		msgs = append(msgs, readingAt(i, base.Add(time.Duration(i)*time.Second), 0))
		if i%400 == 7 {
			msgs = append(msgs, []byte(bad[i/400]))
		}
	}
	deliver(t, fw, msgs, len(msgs), nil)
	got := bronzeLines(t, s3c, bucket, lake.Bronze+"/")
	assert.Len(t, got, 1200, "every reading in bronze")
	errs := bronzeLines(t, s3c, bucket, "errors/")
	assert.Len(t, errs, len(bad), "errors/ holds the three and nothing else: %v", errs)
	assert.Equal(t, len(bad), st.Alone)
	// the readings in 4 records (a bad message ends the record before it), one for each bad message
	assert.Equal(t, 4+len(bad), fh.Counts().Records)
}

// TestABatchReachesEveryHourOfItsElements: a batched message whose elements fall in three hours
// is in each hour's bronze partition (Firehose files it under its first element's hour, the spill
// under the others), with S3 failing a third of its requests: the batch is retried until every
// hour has it, and no single reading is spilled.
func TestABatchReachesEveryHourOfItsElements(t *testing.T) {
	const bucket = "lake"
	url, s3c := awstest.S3(t, bucket)
	fh := awstest.FirehoseStream(t, s3c, bucket, stream, lake.Bronze, firehosebronze.Delimiter, lake.PartitionQuery("event_time"))
	faults := awstest.NewFaults(0.3, 5)
	cfg := awstest.Config(url)
	awstest.WithTransport(faults)(&cfg)
	flaky := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	fw := firehosebronze.New(fh.Client(), stream, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fw.Spill = &firehosebronze.Spill{Client: flaky, Bucket: bucket}
	var spilled int
	fw.Observe = func(s firehosebronze.Stats) { spilled += s.Spilled }
	base := time.Date(2026, 6, 1, 9, 50, 0, 0, time.UTC)
	batch := []byte(`{"device_id":"meter-7","readings":[{"event_time":"2026-06-01T09:50:00Z","power_w":1},` +
		`{"event_time":"2026-06-01T10:10:00Z","power_w":2},{"event_time":"2026-06-01T11:05:00Z","power_w":3}]}`)
	msgs := [][]byte{readingAt(1, base, 0), batch, readingAt(2, base.Add(30*time.Minute), 0)}
	for range 5 { // five streams' worth, so that some spills fail
		deliver(t, fw, msgs, len(msgs), nil)
	}
	injected, _ := faults.Counts()
	require.Positive(t, injected, "S3 failed some writes")
	for _, hour := range []string{"09", "10", "11"} {
		got := bronzeLines(t, s3c, bucket, lake.Bronze+"/dt=2026-06-01/hour="+hour+"/")
		assert.GreaterOrEqual(t, got[string(batch)], 5, "hour %s holds the batch of every delivery (more after retries: silver keeps each reading once): %v", hour, got)
	}
	assert.GreaterOrEqual(t, spilled, 10, "two objects a delivery at least: hours 10 and 11")
	hour10 := bronzeLines(t, s3c, bucket, lake.Bronze+"/dt=2026-06-01/hour=10/")
	assert.Len(t, hour10, 2, "hour 10: the batch and the single reading of 10:20, nothing else: %v", hour10)
}
