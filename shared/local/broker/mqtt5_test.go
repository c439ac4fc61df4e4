package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mqtt5 is a minimal MQTT 5 client over one connection, made of mochi's packet codec.
type mqtt5 struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial5(t *testing.T, addr string) *mqtt5 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c := &mqtt5{conn: conn, r: bufio.NewReader(conn)}
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "v5"}}
	c.send(t, connect.ConnectEncode)
	ack := c.read(t)
	require.Equal(t, packets.Connack, ack.FixedHeader.Type)
	require.Equal(t, byte(0), ack.ReasonCode)
	return c
}

func (c *mqtt5) send(t *testing.T, encode func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	require.NoError(t, encode(&buf))
	_, err := c.conn.Write(buf.Bytes())
	require.NoError(t, err)
}

// read reads one packet (its fixed header, then its body).
func (c *mqtt5) read(t *testing.T) packets.Packet {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	b, err := c.r.ReadByte()
	require.NoError(t, err)
	pk := packets.Packet{ProtocolVersion: 5}
	require.NoError(t, pk.FixedHeader.Decode(b))
	n, mul := 0, 1
	for {
		d, err := c.r.ReadByte()
		require.NoError(t, err)
		n += int(d&127) * mul
		if d&128 == 0 {
			break
		}
		mul *= 128
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	require.NoError(t, err)
	switch pk.FixedHeader.Type {
	case packets.Connack:
		require.NoError(t, pk.ConnackDecode(body))
	case packets.Puback:
		require.NoError(t, pk.PubackDecode(body))
	default:
		t.Fatalf("unexpected packet %v", pk.FixedHeader.Type)
	}
	return pk
}

func (c *mqtt5) publish(t *testing.T, id uint16, payload string) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
		TopicName: "devices/room-1/readings", PacketID: id, Payload: []byte(payload)}
	c.send(t, pk.PublishEncode)
	return c.read(t)
}

// TestMQTT5ClientsAreToldWhy: an MQTT 5 client gets a PUBACK with a reason code when the
// pipeline cannot keep its message (quota exceeded when it is full, server-side failure
// otherwise), and a plain PUBACK, in order, for what it keeps.
func TestMQTT5ClientsAreToldWhy(t *testing.T) {
	answers := map[string]error{"full": fmt.Errorf("%w: the log is full", ErrFull), "broken": errors.New("disk on fire")}
	b, err := start(Options{Addr: "127.0.0.1:0"}, func(_ string, payload []byte, done func(error)) {
		done(answers[string(payload)])
	}, limits{maxConns: 10, connectTimeout: time.Minute})
	require.NoError(t, err)
	defer b.Close()
	c := dial5(t, b.Addr())
	defer c.conn.Close()
	for i, tc := range []struct {
		payload string
		code    byte
	}{{"ok", 0}, {"full", packets.ErrQuotaExceeded.Code}, {"broken", packets.ErrImplementationSpecificError.Code}, {"ok", 0}} {
		ack := c.publish(t, uint16(i+1), tc.payload)
		assert.Equal(t, uint16(i+1), ack.PacketID)
		assert.Equal(t, tc.code, ack.ReasonCode, tc.payload)
	}
	assert.Equal(t, int64(2), b.Accepted())
	assert.Equal(t, int64(2), b.Refused().Messages)
}
