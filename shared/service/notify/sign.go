package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook request.
const (
	HeaderAlertID   = "X-Iotwatch-Alert-Id"
	HeaderTimestamp = "X-Iotwatch-Timestamp"
	HeaderSignature = "X-Iotwatch-Signature"
	// HeaderTest is "true" on the message `iotwatch channels test` sends.
	HeaderTest = "X-Iotwatch-Test"
)

// DefaultTolerance is how far a webhook request's timestamp may be from the receiver's clock:
// a captured request replayed later than this is refused.
const DefaultTolerance = 5 * time.Minute

// Sign is the X-Iotwatch-Signature of a webhook body sent at unix (seconds):
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), the scheme Stripe and Slack use.
func Sign(secret string, unix int64, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(unix, 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// The reasons Verify refuses a request.
var (
	ErrNoSignature = errors.New("no v1 signature")
	ErrSignature   = errors.New("signature does not match")
	ErrTimestamp   = errors.New("timestamp outside the tolerance")
)

// Verify checks a webhook request as its receiver does: timestamp and signature are the values
// of the X-Iotwatch-Timestamp and X-Iotwatch-Signature headers, body the raw body as received
// (before any JSON decoding), now the receiver's clock, tolerance how old (or how far ahead) the
// timestamp may be (0: DefaultTolerance). The signature header may list several
// comma-separated v1= values (a receiver rotating secrets checks each of its secrets); one
// match is enough. The comparison takes constant time.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now, tolerance %s", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	want := mac(secret, strings.TrimSpace(timestamp), body)
	found := false
	for _, part := range strings.Split(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		found = true
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrSignature
}
