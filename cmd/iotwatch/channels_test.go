package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/aws/dynamostore"
	"github.com/iotwatch/iotwatch/shared/testsupport/awstest"
	"github.com/iotwatch/iotwatch/shared/testsupport/sealtest"
)

// receiver is a local HTTP server that records the requests' paths and headers and answers
// status with body.
type receiver struct {
	mu    sync.Mutex
	paths []string
	tests int
}

func (r *receiver) serve(t *testing.T, status int, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		if req.Header.Get("X-Iotwatch-Test") == "true" {
			r.tests++
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestChannelsPutListDeleteTest runs the same session of `iotwatch channels` on both homes: the
// table (the emulator, sealed with a local AES-GCM sealer in place of KMS) and a local channels
// file. A file and one channel's flags are put, list prints targets redacted (never a secret),
// a bad input is refused whole (line or flag, and field, named; nothing written), test sends a
// marked message to local servers (a webhook, and PagerDuty at --pagerduty-url) and prints the
// answers, and delete of an absent channel deletes nothing.
func TestChannelsPutListDeleteTest(t *testing.T) {
	sealer := sealtest.New()
	prev := sealerFor
	sealerFor = func(aws.Config, string) dynamostore.Sealer { return sealer }
	t.Cleanup(func() { sealerFor = prev })
	t.Setenv("AWS_REGION", "eu-west-1")

	hooks := &receiver{}
	hook := hooks.serve(t, http.StatusOK, "ok")
	pd := &receiver{}
	pdSrv := pd.serve(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)

	url := awstest.DynamoDBServer(t)
	awstest.CreateTable(t, awstest.DynamoDBClient(url), "iotwatch")
	file := filepath.Join(t.TempDir(), "channels.csv")
	homes := map[string][]string{
		"table": {"--table", "iotwatch", "--endpoint", url, "--key", "alias/iotwatch-channels"},
		"file":  {"--channels", file},
	}
	chans := writeFile(t, "channels.csv", "user_id,channel,target,min_severity,secret\n"+
		"alice,webhook,"+hook.URL+"/alice/secretpath,,0123456789abcdef0123\n"+
		"alice,pagerduty,3fcc9112463424b599f996f9e780dfc6,VIOLATION,\n")
	bad := writeFile(t, "bad.csv", "user_id,channel,target,min_severity,secret\n"+
		"bob,slack,https://hooks.slack.com/services/x,,\n"+
		"bob,webhook,http://example.com/h,,0123456789abcdef\n")
	for name, at := range homes {
		t.Run(name, func(t *testing.T) {
			cli := func(args ...string) (int, string, string) {
				t.Helper()
				return runCLI(t, "", append(args, at...)...)
			}
			code, out, errOut := cli("channels", "put", chans)
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "wrote 2 channels")
			code, _, errOut = cli("channels", "put", "--user", "alice", "--channel", "slack", "--target", "https://hooks.slack.com/services/T0/B0/tok")
			require.Zero(t, code, errOut)

			code, _, errOut = cli("channels", "put", bad)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "bad.csv:3")
			assert.Contains(t, errOut, "target")
			assert.Contains(t, errOut, "nothing written")
			code, _, errOut = cli("channels", "put", "--user", "bob", "--channel", "webhook", "--target", "https://example.com/h")
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "--secret: a webhook needs a secret")

			code, out, errOut = cli("channels", "list", "--user", "alice")
			require.Zero(t, code, errOut)
			for _, want := range []string{"alice  pagerduty  ***dfc6", "alice  slack      https://hooks.slack.com/***", "alice  webhook    " + hook.URL + "/***"} {
				assert.Contains(t, strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " "))
			}
			for _, secret := range []string{"secretpath", "0123456789abcdef", "3fcc9112463424b599f996f9e780dfc6", "/tok"} {
				assert.NotContains(t, out, secret)
			}
			assert.NotContains(t, out, "bob", "the refused inputs wrote nothing")

			code, out, errOut = cli("channels", "test", "--user", "alice", "--channel", "webhook")
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "webhook "+hook.URL+"/***: HTTP 200 ok")
			code, out, errOut = cli("channels", "test", "--user", "alice", "--channel", "pagerduty", "--pagerduty-url", pdSrv.URL+"/v2/enqueue")
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "pagerduty ***dfc6: HTTP 202 {\"status\":\"success\"")

			code, _, errOut = cli("channels", "delete", "--user", "alice", "--id", "0000000000000000", "--id", "ffffffffffffffff")
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "nothing deleted")
			code, out, errOut = cli("channels", "delete", "--user", "alice", "--channel", "slack", "--target", "https://hooks.slack.com/services/T0/B0/tok")
			require.Zero(t, code, errOut)
			assert.Contains(t, out, "deleted 1 channels")
			code, out, errOut = cli("channels", "list", "--user", "alice")
			require.Zero(t, code, errOut)
			assert.NotContains(t, out, "slack")
			assert.Equal(t, 3, strings.Count(out, "\n"), "header and two channels")
		})
	}
	assert.Equal(t, 2, hooks.tests, "one marked test a home")
	assert.Equal(t, []string{"/v2/enqueue", "/v2/enqueue", "/v2/enqueue", "/v2/enqueue"}, pd.paths, "a trigger and its resolve a home")
	assert.Positive(t, sealer.Sealed)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the channels file holds secrets: its owner's only")
}

// TestChannelsTestRefusal: a channel that answers 4xx fails the test (exit 2), and the answer is
// printed; a channel given by flags is tested without a home.
func TestChannelsTestRefusal(t *testing.T) {
	hook := (&receiver{}).serve(t, http.StatusNotFound, "no_service")
	code, out, errOut := runCLI(t, "", "channels", "test", "--user", "alice", "--channel", "slack", "--target", hook.URL+"/services/x")
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "slack "+hook.URL+"/***: HTTP 404 no_service")
	assert.Contains(t, errOut, "1 of 1 channels failed the test")
	assert.NotContains(t, out+errOut, "/services/x")
}
