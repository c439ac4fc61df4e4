package s3quarantine_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"sort"
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
