// Package lambdainit is what every function's main starts from (Start: the environment it needs,
// a JSON logger, the AWS configuration), and how it reports a start-up failure the way Lambda
// expects it: to the Runtime API's init-error endpoint (POST /2018-06-01/runtime/init/error, the
// documented protocol), then exits, so the console and the logs say why the function could not
// start ("TABLE_NAME must be set") instead of "Runtime exited with error".
package lambdainit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
)

// Boot is a function's start: what its main wires the function's adapters from.
type Boot struct {
	Ctx    context.Context
	Log    *slog.Logger        // JSON lines on Out
	Out    io.Writer           // standard output: the logs, and the EMF metrics CloudWatch reads from them
	Getenv func(string) string // os.Getenv
	AWS    aws.Config          // every client made from it counts its calls in Calls
	Calls  *awsclient.Counter
}

// Start reads the environment and the AWS configuration, and fails the function's init (Fail)
// when one of the required variables is not set ("A, B and C must be set") or the configuration
// does not load.
func Start(required ...string) *Boot {
	b := &Boot{Ctx: context.Background(), Out: os.Stdout, Getenv: os.Getenv, Calls: &awsclient.Counter{}}
	b.Log = slog.New(slog.NewJSONHandler(b.Out, nil))
	if msg := Missing(b.Getenv, required...); msg != "" {
		b.Fail(msg)
	}
	cfg, err := awsclient.Load(b.Ctx, "")
	b.Check(err, "AWS configuration")
	cfg.APIOptions = append(cfg.APIOptions, b.Calls.Add)
	b.AWS = cfg
	return b
}

// Missing says, when one of names is not set in getenv, that they must be: "A must be set", "A
// and B must be set", "A, B and C must be set" (every one named, set or not); "" when all are.
func Missing(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if getenv(n) != "" {
			continue
		}
		list := strings.Join(names, ", ")
		if i := strings.LastIndex(list, ", "); i >= 0 {
			list = list[:i] + " and " + list[i+2:]
		}
		return list + " must be set"
	}
	return ""
}

// Check fails the init (Fail) with msg and the error, when err is not nil.
func (b *Boot) Check(err error, msg string) {
	if err != nil {
		b.Fail(msg, "err", err)
	}
}

// Fail fails the init: Fail with b's logger.
func (b *Boot) Fail(msg string, args ...any) { Fail(b.Log, msg, args...) }

// Metrics writes metrics with write on b.Out (EMF lines), and logs an error writing them.
func (b *Boot) Metrics(write func(w io.Writer, now time.Time) error) {
	if err := write(b.Out, time.Now()); err != nil {
		b.Log.Error("writing metrics", "err", err)
	}
}

// RequestID is the invocation's request id, "unknown" outside one.
func RequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return "unknown"
}

// ErrorType is the errorType an init failure is reported with.
const ErrorType = "Runtime.InitError"

// Fail logs msg with its arguments, reports it to the Runtime API when the process runs under one
// (AWS_LAMBDA_RUNTIME_API), and exits with status 1.
func Fail(log *slog.Logger, msg string, args ...any) {
	log.Error(msg, args...)
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		if err := Report(http.DefaultClient, api, msg, args...); err != nil {
			log.Error("reporting the init error", "err", err)
		}
	}
	os.Exit(1)
}

// Report posts an init error to the Runtime API at api (host:port).
func Report(c *http.Client, api, msg string, args ...any) error {
	text := msg
	for i := 0; i+1 < len(args); i += 2 {
		text += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	body, err := json.Marshal(map[string]string{"errorMessage": text, "errorType": ErrorType})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", ErrorType)
	c2 := *c
	c2.Timeout = 5 * time.Second
	resp, err := c2.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the Runtime API answered %s", resp.Status)
	}
	return nil
}
