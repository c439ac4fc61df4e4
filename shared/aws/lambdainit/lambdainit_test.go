package lambdainit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestMissing(t *testing.T) {
	env := map[string]string{"A": "a", "B": "b", "C": "c"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"A", "B", "C"}, ""},
		{[]string{"D"}, "D must be set"},
		{[]string{"A", "D"}, "A and D must be set"},
		{[]string{"D", "A", "B", "C"}, "D, A, B and C must be set"},
		{[]string{"A", "B", "E"}, "A, B and E must be set"},
	} {
		if got := Missing(getenv, tc.names...); got != tc.want {
			t.Errorf("Missing(%v) = %q; want %q", tc.names, got, tc.want)
		}
	}
}

func TestStart(t *testing.T) {
	t.Setenv("TABLE_NAME", "iotwatch")
	t.Setenv("AWS_REGION", "eu-west-1")
	b := Start("TABLE_NAME")
	if b.Getenv("TABLE_NAME") != "iotwatch" || b.AWS.Region != "eu-west-1" || b.Log == nil || b.Ctx == nil {
		t.Errorf("Start = %+v", b)
	}
	if len(b.AWS.APIOptions) == 0 {
		t.Error("the call counter is not installed")
	}
}

func TestMetricsLogsAWriteError(t *testing.T) {
	var out strings.Builder
	b := &Boot{Out: &out}
	b.Log = slog.New(slog.NewJSONHandler(&out, nil))
	b.Metrics(func(w io.Writer, now time.Time) error {
		_, err := io.WriteString(w, "metrics at "+now.Format(time.DateOnly)+"\n")
		return err
	})
	b.Metrics(func(io.Writer, time.Time) error { return errors.New("disk full") })
	if got := out.String(); !strings.HasPrefix(got, "metrics at ") || !strings.Contains(got, `"msg":"writing metrics","err":"disk full"`) {
		t.Errorf("out = %q", got)
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID(context.Background()); got != "unknown" {
		t.Errorf("RequestID outside an invocation = %q", got)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	if got := RequestID(ctx); got != "req-1" {
		t.Errorf("RequestID = %q; want req-1", got)
	}
}

func TestReport(t *testing.T) {
	var got struct{ ErrorMessage, ErrorType string }
	var header string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get("Lambda-Runtime-Function-Error-Type")
		if r.URL.Path != "/2018-06-01/runtime/init/error" || json.NewDecoder(r.Body).Decode(&got) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	if err := Report(http.DefaultClient, strings.TrimPrefix(srv.URL, "http://"), "AWS configuration", "err", "no region"); err != nil {
		t.Fatal(err)
	}
	if got.ErrorMessage != "AWS configuration err=no region" || got.ErrorType != ErrorType || header != ErrorType {
		t.Errorf("reported %+v with %q", got, header)
	}
}
