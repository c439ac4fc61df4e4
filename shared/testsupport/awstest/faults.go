package awstest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
)

// Faults is an http.RoundTripper that injects two kinds of fault, each the SDK retries as it would
// against AWS:
//   - a failed request: HTTP 500 before the request reaches the emulator, so nothing happens
//     there (a throttled or failing service);
//   - a lost response: the request is forwarded and done, and its answer is dropped (the
//     connection is reset), so the caller cannot know it was done (a timeout, a network fault).
type Faults struct {
	Base http.RoundTripper
	// Rate is the fraction of requests failed, 0 to 1.
	Rate float64
	// DropRate is the fraction of requests (of those not failed) whose response is lost, 0 to 1.
	DropRate float64
	// Only, when set, limits faults to requests whose operation (X-Amz-Target or Action) contains it.
	Only string

	mu       sync.Mutex
	rng      *rand.Rand
	injected int
	dropped  int
	entries  int // PublishBatch entries in requests whose response was dropped
	total    int
}

// NewFaults returns an injector with a fixed seed, so a failing run can be repeated.
func NewFaults(rate float64, seed uint64) *Faults {
	return &Faults{Base: http.DefaultTransport, Rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Counts returns how many requests were failed, and how many were seen.
func (f *Faults) Counts() (injected, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected, f.total
}

// Dropped returns how many responses were dropped, and how many SNS PublishBatch entries the
// requests of those responses carried (each was published, and its sender did not learn it).
func (f *Faults) Dropped() (responses, publishEntries int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped, f.entries
}

// SetRate changes the rate of failed requests (0 to heal).
func (f *Faults) SetRate(rate float64) {
	f.mu.Lock()
	f.Rate = rate
	f.mu.Unlock()
}

// SetDropRate changes the rate of lost responses (0 to heal).
func (f *Faults) SetDropRate(rate float64) {
	f.mu.Lock()
	f.DropRate = rate
	f.mu.Unlock()
}

// RoundTrip implements http.RoundTripper.
func (f *Faults) RoundTrip(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if op == "" && req.Body != nil {
		// A query-protocol request (SNS): the operation and its entries are in the form body.
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		op = string(body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	f.mu.Lock()
	f.total++
	eligible := f.Only == "" || strings.Contains(op, f.Only)
	fail := eligible && f.rng.Float64() < f.Rate
	drop := eligible && !fail && f.rng.Float64() < f.DropRate
	if fail {
		f.injected++
	}
	f.mu.Unlock()
	if drop {
		return f.dropResponse(req, op)
	}
	if !fail {
		return f.Base.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	body, ctype := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}`, "application/x-amz-json-1.0"
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-amz-json") {
		body, ctype = `<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>injected fault</Message></Error><RequestId>x</RequestId></ErrorResponse>`, "text/xml"
	}
	return &http.Response{
		StatusCode: http.StatusInternalServerError,
		Status:     "500 Internal Server Error",
		Header:     http.Header{"Content-Type": {ctype}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
		ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// dropResponse forwards the request, lets the emulator do it, and loses the answer.
func (f *Faults) dropResponse(req *http.Request, op string) (*http.Response, error) {
	resp, err := f.Base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	f.mu.Lock()
	f.dropped++
	if strings.Contains(op, "Action=PublishBatch") {
		f.entries += strings.Count(op, ".Id=")
	}
	f.mu.Unlock()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}
