package awstest

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// Faults is an http.RoundTripper that fails a fraction of requests with HTTP 500 before they reach
// the emulator (so nothing happens there), the way a throttled or failing service does. The SDK
// sees a retryable server error and retries as it would against AWS.
type Faults struct {
	Base http.RoundTripper
	// Rate is the fraction of requests failed, 0 to 1.
	Rate float64
	// Only, when set, limits faults to requests whose operation (X-Amz-Target or Action) contains it.
	Only string

	mu       sync.Mutex
	rng      *rand.Rand
	injected int
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

// SetRate changes the fault rate (0 to heal).
func (f *Faults) SetRate(rate float64) {
	f.mu.Lock()
	f.Rate = rate
	f.mu.Unlock()
}

// RoundTrip implements http.RoundTripper.
func (f *Faults) RoundTrip(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if op == "" && req.Body != nil && req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			body, _ := io.ReadAll(b)
			op = string(body)
		}
	}
	f.mu.Lock()
	f.total++
	fail := (f.Only == "" || strings.Contains(op, f.Only)) && f.rng.Float64() < f.Rate
	if fail {
		f.injected++
	}
	f.mu.Unlock()
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
