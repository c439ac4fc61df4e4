package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSignMatchesOpenSSL(t *testing.T) {
	// echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef'
	assert.Equal(t, "v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2", Sign("whsec_0123456789abcdef", 1700000000, []byte(`{"a":1}`)))
}

func TestVerify(t *testing.T) {
	const secret = "whsec_0123456789abcdef"
	body := []byte(`{"alert_id":"x"}`)
	now := time.Unix(1700000000, 0)
	good := Sign(secret, now.Unix(), body)
	for _, tc := range []struct {
		name, secret, ts, sig string
		body                  []byte
		now                   time.Time
		want                  error
	}{
		{"good", secret, "1700000000", good, body, now, nil},
		{"4 min 59 s late", secret, "1700000000", good, body, now.Add(299 * time.Second), nil},
		{"5 min 1 s late: a replay", secret, "1700000000", good, body, now.Add(301 * time.Second), ErrTimestamp},
		{"from the future", secret, "1700000000", good, body, now.Add(-6 * time.Minute), ErrTimestamp},
		{"body altered", secret, "1700000000", good, []byte(`{"alert_id":"y"}`), now, ErrSignature},
		{"timestamp altered", secret, "1700000001", good, body, now, ErrSignature},
		{"another secret", "whsec_another_secret_", "1700000000", good, body, now, ErrSignature},
		{"one of several (a rotation)", secret, "1700000000", "v1=00ff, " + good, body, now, nil},
		{"no v1", secret, "1700000000", "v0=abc", body, now, ErrNoSignature},
		{"not hex", secret, "1700000000", "v1=zz", body, now, ErrSignature},
		{"timestamp not a number", secret, "soon", good, body, now, ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.ts, tc.sig, tc.body, tc.now, 0)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.True(t, errors.Is(err, tc.want), "Verify = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"Mon, 07 Dec 2026 01:00:30 GMT": 30 * time.Second,
		"Mon, 07 Dec 2026 00:59:00 GMT": 0, // past
		"soon":                          0,
		"18446744074":                   24 * time.Hour, // past the int64 nanoseconds: a day, not a wrapped 290 ms
		"9223372037":                    24 * time.Hour,
	} {
		assert.Equal(t, want, retryAfter(in, now), "retryAfter(%q)", in)
	}
}

func TestBackoff(t *testing.T) {
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second} {
		for range 50 {
			d := Backoff(time.Second, 20*time.Second, i+1)
			assert.True(t, d >= want/2 && d <= want, "Backoff(try %d) = %s; want in [%s, %s]", i+1, d, want/2, want)
		}
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[Backoff(time.Second, time.Minute, 3)] = true
	}
	assert.Greater(t, len(seen), 10, "jittered")
}
