package s3quarantine_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/s3quarantine"
	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
)

// readLines reads every quarantine object under prefix, keyed by object.
func readLines(t *testing.T, client *s3.Client, bucket, prefix string) map[string][]lake.Rejected {
	t.Helper()
	ctx := context.Background()
	out := map[string][]lake.Rejected{}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(obj.Body)
		if err != nil {
			t.Fatalf("%s is not gzip: %v", *o.Key, err)
		}
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			var r lake.Rejected
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", *o.Key, err)
			}
			out[*o.Key] = append(out[*o.Key], r)
		}
		obj.Body.Close()
	}
	return out
}

func TestQuarantineWritesByArrivalHourAndOverwritesOnRetry(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.S3(t, "lake")
	q := s3quarantine.NewQuarantine(client, "lake")
	h1 := time.Date(2026, 3, 1, 9, 59, 0, 0, time.UTC)
	recs := []lake.Rejected{
		{Reason: "bad_metric", Detail: "x", ArrivalTime: h1, DataBase64: []byte(`{"temperature":"hot"}`), DataText: `{"temperature":"hot"}`},
		{Reason: "malformed_json", Detail: "y", ArrivalTime: h1.Add(2 * time.Minute), DataBase64: []byte{0xff, 0x00}},
	}
	for i := 0; i < 2; i++ { // the retry of the same batch
		if err := q.Put(ctx, "shardId-000000000000:495900", recs); err != nil {
			t.Fatal(err)
		}
	}
	got := readLines(t, client, "lake", "quarantine/")
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{
		"quarantine/dt=2026-03-01/hour=09/shardId-000000000000-495900.json.gz",
		"quarantine/dt=2026-03-01/hour=10/shardId-000000000000-495900.json.gz",
	}
	if len(keys) != 2 || keys[0] != want[0] || keys[1] != want[1] {
		t.Fatalf("objects = %v; want %v", keys, want)
	}
	if r := got[want[1]]; len(r) != 1 || r[0].Reason != "malformed_json" || string(r[0].DataBase64) != "\xff\x00" {
		t.Errorf("hour 10 holds %+v; want the malformed record with its original bytes", r)
	}
	if r := got[want[0]]; len(r) != 1 || r[0].DataText != `{"temperature":"hot"}` {
		t.Errorf("hour 09 holds %+v", r)
	}
}

// TestReaderListsTheHoursAsked: the reader lists the objects of the hours asked (across days,
// one listing a day) and reads them back as written.
func TestReaderListsTheHoursAsked(t *testing.T) {
	ctx := context.Background()
	_, client := awstest.S3(t, "lake")
	q := s3quarantine.NewQuarantine(client, "lake")
	for i, at := range []time.Time{time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC), time.Date(2026, 3, 1, 23, 10, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC), time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)} {
		rec := lake.Rejected{Reason: "bad_metric", ArrivalTime: at, DataBase64: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if err := q.Put(ctx, fmt.Sprintf("batch-%d", i), []lake.Rejected{rec}); err != nil {
			t.Fatal(err)
		}
	}
	r := s3quarantine.NewReader(client, "lake")
	keys, err := r.Objects(ctx, time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"quarantine/dt=2026-03-01/hour=23/batch-1.json.gz", "quarantine/dt=2026-03-02/hour=00/batch-2.json.gz"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("objects = %v; want %v", keys, want)
	}
	body, err := r.Read(ctx, keys[1])
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	if !strings.Contains(string(text), `"reason":"bad_metric"`) || !strings.Contains(string(text), base64.StdEncoding.EncodeToString([]byte(`{"n":2}`))) {
		t.Errorf("read %s", text)
	}
}
