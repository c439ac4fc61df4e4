// Command bronze is the Lambda that lands the readings stream in the lake's bronze: it forwards
// each Kinesis batch, unchanged, to the bronze Firehose stream, many messages to a Firehose record
// (Firehose bills 5 KB a record; read by Firehose itself, each reading was one). Logic lives in
// shared/aws/firehosebronze.
//
// Environment (shared/contract/fnenv): BRONZE_STREAM (required).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/firehosebronze"
	"github.com/iotwatch/iotwatch/shared/aws/lambdainit"
	"github.com/iotwatch/iotwatch/shared/contract/fnenv"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) { lambdainit.Fail(log, msg, args...) }

	stream := os.Getenv(fnenv.BronzeStream)
	if stream == "" {
		fail(fnenv.BronzeStream + " must be set")
	}
	cfg, err := awsclient.Load(ctx, "")
	if err != nil {
		fail("AWS configuration", "err", err)
	}
	fw := firehosebronze.New(firehose.NewFromConfig(cfg), stream, log)
	fw.Observe = func(s firehosebronze.Stats) {
		if err := firehosebronze.WriteMetrics(os.Stdout, s, time.Now()); err != nil {
			log.Error("writing metrics", "err", err)
		}
	}
	lambda.Start(fw.Handle)
}
