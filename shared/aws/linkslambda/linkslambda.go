// Package linkslambda is the links function's edge: a Lambda function URL's request becomes an
// http.Request for the links' handler (shared/service/links), its answer the function URL's
// response; and the links' secret is read from Secrets Manager once, at a cold start.
package linkslambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// Handler adapts an http.Handler to function URL events.
type Handler struct{ h http.Handler }

// NewHandler returns the adapter.
func NewHandler(h http.Handler) *Handler { return &Handler{h: h} }

// Handle serves one function URL request.
func (a *Handler) Handle(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	body := ev.Body
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return events.LambdaFunctionURLResponse{StatusCode: http.StatusBadRequest}, nil
		}
		body = string(b)
	}
	target := ev.RawPath
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	req, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, "https://"+ev.RequestContext.DomainName+target, strings.NewReader(body))
	if err != nil { // a path no URL parser takes: anyone may send one
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusBadRequest, Body: "bad request"}, nil
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	rec := &response{header: http.Header{}}
	a.h.ServeHTTP(rec, req)
	out := events.LambdaFunctionURLResponse{StatusCode: rec.status(), Headers: map[string]string{}, Body: rec.body.String()}
	for k := range rec.header {
		out.Headers[k] = rec.header.Get(k)
	}
	return out, nil
}

// response keeps what a handler writes, for the function URL's answer.
type response struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *response) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// status is the code written, 200 when the handler wrote none (as net/http answers).
func (r *response) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// SecretReader is the part of Secrets Manager the functions use.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secret reads the links' secret (a generated string) by its ARN.
func Secret(ctx context.Context, c SecretReader, arn string) ([]byte, error) {
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the links' secret: %w", err)
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("reading the links' secret: it holds no string")
	}
	return []byte(*out.SecretString), nil
}

// Linker reads the links' secret and returns what the evaluate and silence functions sign links
// with (evaluator.Config.Linker), given both the secret's ARN (fnenv.LinkSecretARN) and the links
// function's URL (fnenv.LinkBaseURL); nil, no links, when neither is set.
func Linker(ctx context.Context, c SecretReader, secretARN, baseURL string) (evaluator.Linker, error) {
	if secretARN == "" && baseURL == "" {
		return nil, nil
	}
	if secretARN == "" || baseURL == "" {
		return nil, fmt.Errorf("links need both the secret's ARN and the links function's URL")
	}
	secret, err := Secret(ctx, c, secretARN)
	if err != nil {
		return nil, err
	}
	signer, err := links.NewSigner(secret, baseURL)
	if err != nil {
		return nil, err
	}
	return signer, nil
}
