package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// tlsPublish connects with the given client certificate (none when cert is "") and publishes
// one message to topic.
func tlsPublish(t *testing.T, addr, caDir, cert, key, topic string) error {
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
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetTLSConfig(cfg).
		SetClientID(fmt.Sprintf("t-%d", time.Now().UnixNano())).SetAutoReconnect(false).SetConnectRetry(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Publish(topic, 1, false, []byte(`{"device_id":"x"}`))
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

	assert.Error(t, tlsPublish(t, b.Addr(), dir, "", "", "devices/room-1/readings"), "no certificate")

	old, oldKey, err := pki.IssueDevice(dir, "room-3", time.Now().Add(-48*time.Hour), 24*time.Hour)
	require.NoError(t, err)
	assert.Error(t, tlsPublish(t, b.Addr(), dir, old, oldKey, "devices/room-3/readings"), "an expired certificate")

	other := t.TempDir() // a certificate of another CA
	require.NoError(t, pki.InitCA(other, nil, time.Now()))
	forged, forgedKey, err := pki.IssueDevice(other, "room-1", time.Now().Add(-time.Minute), pki.DeviceLifetime)
	require.NoError(t, err)
	assert.Error(t, tlsPublish(t, b.Addr(), dir, forged, forgedKey, "devices/room-1/readings"), "a certificate of another CA")
	assert.Equal(t, []string{"room-1"}, got(), "nothing refused reached the rule")
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
