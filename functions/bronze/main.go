// Command bronze is the Lambda that lands the readings stream in the lake's bronze: it forwards
// each Kinesis batch, unchanged, to the bronze Firehose stream, many messages to a Firehose record
// (Firehose bills 5 KB a record; read by Firehose itself, each reading was one). Logic lives in
// shared/aws/firehosebronze.
//
// Environment (shared/contract/fnenv): BRONZE_STREAM, LAKE_BUCKET (required: a batched message
// is also written, by S3 PutObject, into the bronze partitions of its elements' other hours).
package main

import (
	"io"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iotwatch/iotwatch/shared/aws/firehosebronze"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
)

func main() {
	b := lambdainit.Start(fnenv.BronzeStream, fnenv.LakeBucket)
	fw := firehosebronze.New(firehose.NewFromConfig(b.AWS), b.Getenv(fnenv.BronzeStream), b.Log)
	fw.Spill = &firehosebronze.Spill{Client: s3.NewFromConfig(b.AWS), Bucket: b.Getenv(fnenv.LakeBucket)}
	fw.Observe = func(s firehosebronze.Stats) {
		b.Metrics(func(w io.Writer, now time.Time) error { return firehosebronze.WriteMetrics(w, s, now) })
	}
	lambda.Start(fw.Handle)
}
