package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/local/pki"
)

// tlsBroker starts a broker with TLS and client certificates from a fresh CA, and returns the
// devices it got messages for.
func tlsBroker(t *testing.T) (*Broker, string, func() []string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, pki.InitCA(dir, nil, time.Now()))
	cfg, err := pki.BrokerTLS(filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey), filepath.Join(dir, pki.CACert))
	require.NoError(t, err)
	var mu sync.Mutex
	var got []string
	b, err := start(Options{Addr: "127.0.0.1:0", TLS: cfg}, func(dev string, _ []byte, done func(error)) {
		mu.Lock()
		got = append(got, dev)
		mu.Unlock()
		done(nil)
	}, limits{maxConns: 10, connectTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, dir, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

// tlsPublish connects with the given client certificate (none when cert is "") as client id
// (the certificate's file name when ""), and publishes one message to topic.
func tlsPublish(t *testing.T, addr, caDir, cert, key, topic string, opts ...func(*paho.ClientOptions)) error {
	t.Helper()
	return tlsPublishPayload(t, addr, caDir, cert, key, topic, []byte(`{"device_id":"x"}`), opts...)
}

// tlsPublishPayload is tlsPublish of the given payload.
func tlsPublishPayload(t *testing.T, addr, caDir, cert, key, topic string, payload []byte, opts ...func(*paho.ClientOptions)) error {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(caDir, pki.CACert))
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	o := paho.NewClientOptions().AddBroker("ssl://" + addr).SetTLSConfig(cfg).
		SetClientID(strings.TrimSuffix(filepath.Base(cert), ".pem")).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4) // MQTT 3.1.1 only: paho would try 3.1 after a refusal, and count twice
	for _, opt := range opts {
		opt(o)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(2 * time.Second) {
		return errors.New("no acknowledgement")
	}
	return tok.Error()
}

func TestTLSDevicesPublishOnlyAsThemselves(t *testing.T) {
	b, dir, got := tlsBroker(t)
	cert, key, err := pki.IssueDevice(dir, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)
	require.NoError(t, tlsPublish(t, b.Addr(), dir, cert, key, "devices/room-1/readings"), "its own topic")
	assert.Equal(t, []string{"room-1"}, got())

	err = tlsPublish(t, b.Addr(), dir, cert, key, "devices/room-2/readings")
	assert.Error(t, err, "room-1 publishing as room-2 was acknowledged")
	assert.Equal(t, []string{"room-1"}, got(), "and reached the rule")
	assert.Equal(t, int64(1), b.Refused().NotAllowed, "counted")

	// Basic Ingest: its own readings straight to the rule, and not another device's.
	require.NoError(t, tlsPublish(t, b.Addr(), dir, cert, key, "$aws/rules/iotwatch_Rule/devices/room-1/readings"), "its own Basic Ingest topic")
	assert.Equal(t, []string{"room-1", "room-1"}, got())
	assert.Error(t, tlsPublish(t, b.Addr(), dir, cert, key, "$aws/rules/iotwatch_Rule/devices/room-2/readings"), "room-2's through Basic Ingest")
	assert.Error(t, tlsPublish(t, b.Addr(), dir, cert, key, "$aws/rules/iotwatch_Rule/devices/room-1/status"), "not a readings topic")
	assert.Equal(t, int64(3), b.Refused().NotAllowed, "counted")

	assert.Error(t, tlsPublish(t, b.Addr(), dir, "", "", "devices/room-1/readings"), "no certificate")

	old, oldKey, err := pki.IssueDevice(dir, "room-3", time.Now().Add(-48*time.Hour), 24*time.Hour)
	require.NoError(t, err)
	assert.Error(t, tlsPublish(t, b.Addr(), dir, old, oldKey, "devices/room-3/readings"), "an expired certificate")

	other := t.TempDir() // a certificate of another CA
	require.NoError(t, pki.InitCA(other, nil, time.Now()))
	forged, forgedKey, err := pki.IssueDevice(other, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)
	assert.Error(t, tlsPublish(t, b.Addr(), dir, forged, forgedKey, "devices/room-1/readings"), "a certificate of another CA")
	assert.Equal(t, []string{"room-1", "room-1"}, got(), "nothing refused reached the rule")

	assert.Error(t, tlsPublish(t, b.Addr(), dir, cert, key, "devices/room-1/readings",
		func(o *paho.ClientOptions) { o.SetClientID("room-2") }), "room-1 taking room-2's session")
	assert.Error(t, tlsPublish(t, b.Addr(), dir, cert, key, "devices/room-1/readings",
		func(o *paho.ClientOptions) { o.SetWill("devices/room-2/readings", `{"device_id":"room-2"}`, 1, false) }),
		"a will on room-2's topic")
	assert.Equal(t, Refused{Connect: 2, NotAllowed: 3}, b.Refused(),
		"each refusal after the handshake counted (no certificate, expired, another CA: the handshake fails)")
}

func TestTLSDevicesSubscribeOnlyUnderTheirOwnTopics(t *testing.T) {
	b, dir, _ := tlsBroker(t)
	cert, key, err := pki.IssueDevice(dir, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(dir, pki.CACert))
	require.NoError(t, err)
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(cert, key)
	require.NoError(t, err)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + b.Addr()).SetClientID("room-1").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}}))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(0)
	for topic, want := range map[string]byte{"devices/room-1/commands": 1, "devices/room-2/commands": 0x80, "devices/+/readings": 0x80, "#": 0x80} {
		st := c.Subscribe(topic, 1, nil)
		require.True(t, st.WaitTimeout(5*time.Second))
		assert.Equal(t, want, st.(*paho.SubscribeToken).Result()[topic], topic)
	}
}

func TestNetworkAddressesNeedTLS(t *testing.T) {
	_, err := Start(Options{Addr: "0.0.0.0:0"}, func(string, []byte, func(error)) {})
	require.ErrorIs(t, err, ErrInsecure)
	assert.Contains(t, err.Error(), "--tls-cert")
	for addr, want := range map[string]bool{"127.0.0.1:1883": true, "localhost:1": true, "[::1]:1": true,
		"0.0.0.0:1883": false, ":1883": false, "192.168.1.4:1883": false} {
		assert.Equal(t, want, Loopback(addr), addr)
	}
}

// TestRevokedCertificatesAreRefused: a certificate on the deny list is refused at connection and
// counted; one revoked while connected is disconnected by DropRevoked; the device's new
// certificate connects.
func TestRevokedCertificatesAreRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, pki.InitCA(dir, nil, time.Now()))
	cfg, err := pki.BrokerTLS(filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey), filepath.Join(dir, pki.CACert))
	require.NoError(t, err)
	list, err := pki.OpenDenyList(filepath.Join(dir, pki.RevokedFile))
	require.NoError(t, err)
	b, err := start(Options{Addr: "127.0.0.1:0", TLS: cfg, Revoked: list}, func(_ string, _ []byte, done func(error)) { done(nil) },
		limits{maxConns: 10, connectTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer b.Close()
	cert, key, err := pki.IssueDevice(dir, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)
	old := filepath.Join(t.TempDir(), "room-1.pem") // a copy of the certificate about to be revoked
	oldKey := filepath.Join(filepath.Dir(old), "room-1-key.pem")
	for from, to := range map[string]string{cert: old, key: oldKey} {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o600))
	}

	// Connected before the revocation: disconnected when the list is read again.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, pki.CACert))
	require.NoError(t, err)
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(cert, key)
	require.NoError(t, err)
	lost := make(chan error, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + b.Addr()).SetClientID("room-1").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}}).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(0)
	assert.Zero(t, b.DropRevoked(), "nothing revoked yet")

	_, err = pki.Revoke(dir, "room-1", time.Now())
	require.NoError(t, err)
	changed, err := list.Reload()
	require.NoError(t, err)
	require.True(t, changed)
	assert.Equal(t, 1, b.DropRevoked())
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked device is still connected")
	}

	err = tlsPublish(t, b.Addr(), dir, old, oldKey, "devices/room-1/readings")
	assert.Error(t, err, "a revoked certificate connects")
	assert.Equal(t, Refused{Revoked: 2}, b.Refused(), "the disconnection and the refusal counted")

	cert, key, _, err = pki.ReissueDevice(dir, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime, time.Now())
	require.NoError(t, err)
	_, err = list.Reload()
	require.NoError(t, err)
	assert.NoError(t, tlsPublish(t, b.Addr(), dir, cert, key, "devices/room-1/readings"), "the new certificate")
}

// lockedBuffer is a log destination the broker's goroutines and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestARefusedPublishIsLoggedBriefly is the regression test of issue 26's F4: a device publishing
// 120 KB to a topic not its own wrote its payload to the log byte by byte as decimal numbers
// (6.9 MB of stderr in 0.3 s). Now a refusal is one short line, a device's next refusals within
// RefusalLogEvery are counted (Refused, /metrics) and summed up in its next line.
func TestARefusedPublishIsLoggedBriefly(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, pki.InitCA(dir, nil, time.Now()))
	cfg, err := pki.BrokerTLS(filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey), filepath.Join(dir, pki.CACert))
	require.NoError(t, err)
	var logged lockedBuffer
	var clockMu sync.Mutex
	clock := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	b, err := start(Options{Addr: "127.0.0.1:0", TLS: cfg, Log: slog.New(slog.NewTextHandler(&logged, nil))},
		func(_ string, _ []byte, done func(error)) { done(nil) }, limits{maxConns: 10, connectTimeout: 5 * time.Second, now: now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	cert, key, err := pki.IssueDevice(dir, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)

	payload := []byte(`{"device_id":"room-2","note":"` + strings.Repeat("x", 120<<10) + `"}`)
	for range 5 {
		assert.Error(t, tlsPublishPayload(t, b.Addr(), dir, cert, key, "devices/room-2/readings", payload))
	}
	clockMu.Lock()
	clock = clock.Add(RefusalLogEvery)
	clockMu.Unlock()
	assert.Error(t, tlsPublishPayload(t, b.Addr(), dir, cert, key, "devices/room-2/readings", payload))
	_ = b.Close() // every line the refusals make is written

	assert.Equal(t, int64(6), b.Refused().NotAllowed, "every refusal counted")
	out := logged.String()
	assert.Less(t, len(out), 1500, "six refusals of 120 KB each, logged:\n%.2000s", out)
	var refusals []string
	for _, l := range strings.Split(out, "\n") {
		assert.Less(t, len(l), 400, "a long line: %.500s", l)
		if strings.Contains(l, "topic not allowed") {
			refusals = append(refusals, l)
		}
	}
	require.Len(t, refusals, 2, "the first refusal, then one line a minute:\n%s", out)
	assert.Contains(t, refusals[0], "refused_since_last_line=0")
	assert.Contains(t, refusals[1], "refused_since_last_line=4")
}
