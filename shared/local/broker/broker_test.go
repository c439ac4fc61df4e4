package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func startTest(t *testing.T, lim limits) (*Broker, *atomic.Int64) {
	t.Helper()
	var got atomic.Int64
	b, err := start(Options{Addr: "127.0.0.1:0"}, func(_ string, _ []byte, done func(error)) { got.Add(1); done(nil) }, lim)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, &got
}

func publish(t *testing.T, addr string, payload []byte) error {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("t-%d", time.Now().UnixNano())).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Publish("devices/room-1/readings", 1, false, payload)
	if !tok.WaitTimeout(3 * time.Second) {
		return errors.New("no acknowledgement")
	}
	return tok.Error()
}

// TestSilentConnectionsDoNotBlockStop: a connection that never sends CONNECT once held the
// shutdown for 60 s and more; it is closed after the CONNECT deadline, and at once on Close.
func TestSilentConnectionsDoNotBlockStop(t *testing.T) {
	b, _ := startTest(t, limits{maxConns: 10, connectTimeout: 200 * time.Millisecond})
	early, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer early.Close()
	_, err = io.ReadAll(early) // the deadline closes it
	require.NoError(t, err)

	b, _ = startTest(t, limits{maxConns: 10, connectTimeout: time.Hour})
	silent, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer silent.Close()
	for b.listener.open() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	require.NoError(t, b.Close())
	assert.Less(t, time.Since(start), 2*time.Second, "Close waited for a connection that never sent CONNECT")
}

// TestConnectionsAreCapped: past the cap a connection is closed at once, and the broker goes on
// serving (about 20,000 idle connections once killed the listener for good).
func TestConnectionsAreCapped(t *testing.T) {
	b, got := startTest(t, limits{maxConns: 3, connectTimeout: time.Minute})
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", b.Addr())
		require.NoError(t, err)
		idle = append(idle, c)
	}
	for b.listener.open() < 3 {
		time.Sleep(time.Millisecond)
	}
	over, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	require.NoError(t, over.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = over.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "a connection over the cap is closed at once")
	for _, c := range idle {
		c.Close()
	}
	for b.listener.open() > 0 {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, publish(t, b.Addr(), []byte(`{"device_id":"room-1"}`)))
	assert.Equal(t, int64(1), got.Load())
}

// flakyListener fails its first Accept calls as a process out of file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

func TestAcceptErrorsAreRetried(t *testing.T) {
	b, got := startTest(t, limits{maxConns: 10, connectTimeout: time.Minute, listen: func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		f := &flakyListener{Listener: ln}
		f.fails.Store(5)
		return f, err
	}})
	require.NoError(t, publish(t, b.Addr(), []byte(`{"device_id":"room-1"}`)))
	assert.Equal(t, int64(1), got.Load())
}

// TestLargePacketsAreRefused: a 100 MB publish once took 836 MB; a packet over MaxPacketSize is
// refused from its header, before it is read, and never reaches the rule.
func TestLargePacketsAreRefused(t *testing.T) {
	b, got := startTest(t, limits{maxConns: 10, connectTimeout: time.Minute})
	require.NoError(t, publish(t, b.Addr(), []byte(strings.Repeat("x", 128*1024))), "AWS IoT Core's 128 KB is accepted")
	err := publish(t, b.Addr(), []byte(strings.Repeat("x", MaxPacketSize)))
	assert.Error(t, err, "a packet over the limit is acknowledged")
	assert.Equal(t, int64(1), got.Load())
}

// TestRefusedMessagesAreNotAcknowledged: a message the rule refuses (the pipeline stopping, a
// write that failed) gets no PUBACK, so the client keeps it and sends it again; before, mochi
// acknowledged it and it was lost.
func TestRefusedMessagesAreNotAcknowledged(t *testing.T) {
	var calls atomic.Int64
	b, err := start(Options{Addr: "127.0.0.1:0"}, func(_ string, _ []byte, done func(error)) {
		if calls.Add(1) == 1 {
			done(ErrUnavailable)
			return
		}
		done(nil)
	}, limits{maxConns: 10, connectTimeout: time.Minute})
	require.NoError(t, err)
	defer b.Close()
	err = publish(t, b.Addr(), []byte(`{"device_id":"room-1"}`))
	require.Error(t, err, "a refused message was acknowledged")
	assert.Zero(t, b.Accepted())
	require.NoError(t, publish(t, b.Addr(), []byte(`{"device_id":"room-1"}`)), "sent again, it is taken")
	assert.Equal(t, int64(1), b.Accepted())
}
