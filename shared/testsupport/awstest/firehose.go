package awstest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/itchyny/gojq"
)

// Firehose is a fake of Amazon Data Firehose's PutRecordBatch (JSON 1.1) for one Direct PUT stream
// that delivers to S3 as the bronze stream does, each call delivered at once:
//   - RecordDeAggregation: each record is split at Delimiter, at most 500 sub-records (more fail
//     the test: Firehose caps deaggregation there);
//   - MetadataExtraction: each sub-record's partition keys dt and hour come from the JQ query
//     (gojq; the stack's query is also run with jq 1.6 in shared/contract/lake);
//   - AppendDelimiterToRecord: a newline after each;
//   - the lines of a call are written gzip to Prefix/dt=…/hour=…/ under Firehose's object names
//     (stream-1-YYYY-MM-DD-HH-MM-SS-uuid.json.gz), or under errors/Prefix/ when the query fails.
//
// RefuseRate refuses that share of records with ServiceUnavailableException, as Firehose does
// when it throttles, and writes nothing of them. Billed counts what ingestion is billed: each
// accepted record rounded up to 5 KB.
type Firehose struct {
	URL string

	t         testing.TB
	s3        *s3.Client
	bucket    string
	stream    string
	prefix    string
	delimiter string
	query     *gojq.Code

	// Discard accepts records without splitting or delivering them (benchmarks of a sender).
	Discard bool
	// WholeRecordErrors sends a record whose sub-records the query cannot all partition to errors/
	// whole, every sub-record of it (the worst Firehose may do; by default only the failing
	// sub-record goes there).
	WholeRecordErrors bool

	mu         sync.Mutex
	rng        *mrand.Rand
	RefuseRate float64
	records    int   // accepted records
	lines      int   // sub-records written (bronze or errors)
	billed     int64 // bytes, each record rounded up to 5 KB
	bytesIn    int64
	objects    int
}

// FirehoseStream starts the fake for a stream delivering to bucket (through the S3 client) under
// prefix, splitting records at delimiter and partitioning them with the JQ query.
func FirehoseStream(t testing.TB, client *s3.Client, bucket, stream, prefix, delimiter, query string) *Firehose {
	t.Helper()
	parsed, err := gojq.Parse(query)
	if err != nil {
		t.Fatalf("the partition query does not parse: %v", err)
	}
	code, err := gojq.Compile(parsed)
	if err != nil {
		t.Fatalf("the partition query does not compile: %v", err)
	}
	f := &Firehose{t: t, s3: client, bucket: bucket, stream: stream, prefix: prefix, delimiter: delimiter, query: code,
		rng: mrand.New(mrand.NewPCG(7, 11))}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Client returns a Firehose client of the fake; opts change its configuration (faults).
func (f *Firehose) Client(opts ...Option) *firehose.Client {
	cfg := Config(f.URL)
	for _, o := range opts {
		o(&cfg)
	}
	return firehose.NewFromConfig(cfg)
}

// SetRefuseRate changes the share of records refused.
func (f *Firehose) SetRefuseRate(r float64) {
	f.mu.Lock()
	f.RefuseRate = r
	f.mu.Unlock()
}

// FirehoseCounts is what the fake took in.
type FirehoseCounts struct {
	Records, Lines, Objects int
	Bytes, Billed           int64
}

// Counts returns what was accepted so far.
func (f *Firehose) Counts() FirehoseCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FirehoseCounts{Records: f.records, Lines: f.lines, Objects: f.objects, Bytes: f.bytesIn, Billed: f.billed}
}

func (f *Firehose) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code int, typ, msg string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg}) // the client sees a cut answer
	}
	if r.Header.Get("X-Amz-Target") != "Firehose_20150804.PutRecordBatch" {
		fail(400, "InvalidArgumentException", "the fake serves PutRecordBatch only, not "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		DeliveryStreamName string
		Records            []struct{ Data []byte }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	if in.DeliveryStreamName != f.stream {
		fail(400, "ResourceNotFoundException", "no stream "+in.DeliveryStreamName)
		return
	}
	size := 0
	for _, rec := range in.Records {
		size += len(rec.Data)
		if len(rec.Data) > 1000*1024 {
			fail(400, "InvalidArgumentException", fmt.Sprintf("a record of %d bytes: the limit is 1,000 KiB", len(rec.Data)))
			return
		}
	}
	if len(in.Records) > 500 || size > 4*1024*1024 {
		fail(400, "InvalidArgumentException", fmt.Sprintf("%d records, %d bytes: the limits are 500 and 4 MiB", len(in.Records), size))
		return
	}
	type entry struct {
		RecordId     string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedPutCount   int
		Encrypted        bool
		RequestResponses []entry
	}{RequestResponses: make([]entry, len(in.Records))}
	objects := map[string]*bytes.Buffer{}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC()
	for i, rec := range in.Records {
		if f.rng.Float64() < f.RefuseRate {
			out.FailedPutCount++
			out.RequestResponses[i] = entry{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
			continue
		}
		if f.Discard {
			f.records++
			f.bytesIn += int64(len(rec.Data))
			f.billed += int64(math.Ceil(float64(len(rec.Data))/5000)) * 5000
			out.RequestResponses[i] = entry{RecordId: fmt.Sprintf("r-%d", f.records)}
			continue
		}
		subs := bytes.Split(rec.Data, []byte(f.delimiter))
		if len(subs) > 500 {
			f.t.Errorf("a record of %d sub-records: Firehose deaggregates at most 500", len(subs))
		}
		parts := make([]string, len(subs))
		whole := ""
		for j, sub := range subs {
			if parts[j] = f.partition(sub, now); f.WholeRecordErrors && strings.HasPrefix(parts[j], "errors/") {
				whole = parts[j]
			}
		}
		for j, sub := range subs {
			p := parts[j]
			if whole != "" {
				p = whole
			}
			if objects[p] == nil {
				objects[p] = &bytes.Buffer{}
			}
			objects[p].Write(sub)
			objects[p].WriteByte('\n')
			f.lines++
		}
		f.records++
		f.bytesIn += int64(len(rec.Data))
		f.billed += int64(math.Ceil(float64(len(rec.Data))/5000)) * 5000
		out.RequestResponses[i] = entry{RecordId: fmt.Sprintf("r-%d", f.records)}
	}
	for p, body := range objects {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		if _, err := zw.Write(body.Bytes()); err != nil || zw.Close() != nil {
			f.t.Errorf("the fake Firehose could not compress %s: %v", p, err)
		}
		uuid := make([]byte, 16)
		rand.Read(uuid)
		key := fmt.Sprintf("%s%s-1-%s-%x-%x-%x-%x-%x.json.gz", p, f.stream, now.Format("2006-01-02-15-04-05"), uuid[0:4], uuid[4:6], uuid[6:8], uuid[8:10], uuid[10:16])
		if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(gz.Bytes())}); err != nil {
			f.t.Errorf("the fake Firehose could not deliver %s: %v", key, err)
		}
		f.objects++
	}
	_ = json.NewEncoder(w).Encode(out) // a write error is the client's cut answer
}

// partition is the prefix a sub-record goes under: Prefix/dt=…/hour=…/ from the query, or the
// error prefix (errors/Prefix/processing-failed/dt=/hour= of arrival) when the query fails on it.
func (f *Firehose) partition(sub []byte, now time.Time) string {
	bad := fmt.Sprintf("errors/%s/processing-failed/dt=%s/hour=%s/", f.prefix, now.Format("2006-01-02"), now.Format("15"))
	var v any
	if err := json.Unmarshal(sub, &v); err != nil {
		return bad
	}
	res, ok := f.query.Run(v).Next()
	if !ok {
		return bad
	}
	keys, ok := res.(map[string]any)
	if !ok {
		return bad
	}
	dt, ok1 := keys["dt"].(string)
	hour, ok2 := keys["hour"].(string)
	if !ok1 || !ok2 {
		return bad
	}
	return fmt.Sprintf("%s/dt=%s/hour=%s/", f.prefix, dt, hour)
}
