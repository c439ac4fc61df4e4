package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotwatch/iotwatch/shared/testsupport/wait"
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

// TestPUBACKsKeepTheirOrderWhileTheClientReceives: an MQTT 5 client that also receives
// messages (so mochi buffers what it writes to it) gets its acknowledgements, negative ones too,
// in the order of its publishes [MQTT-4.6.0-2]; a negative one once overtook 27 of 3,000.
func TestPUBACKsKeepTheirOrderWhileTheClientReceives(t *testing.T) {
	b, err := start(Options{Addr: "127.0.0.1:0"}, func(_ string, payload []byte, done func(error)) {
		if string(payload) == "full" {
			done(fmt.Errorf("%w: x", ErrFull))
			return
		}
		done(nil)
	}, limits{maxConns: 10, connectTimeout: time.Minute})
	require.NoError(t, err)
	defer b.Close()
	c := dial5(t, b.Addr())
	defer c.conn.Close()
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 9000,
		Filters: packets.Subscriptions{{Filter: "devices/room-1/cmd", Qos: 0}}}
	c.send(t, sub.SubscribeEncode)
	// Other clients flood a topic the client subscribes to.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var flooded, subscribed atomic.Int64
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			conn, err := net.Dial("tcp", b.Addr())
			if err != nil {
				return
			}
			defer conn.Close()
			var buf bytes.Buffer
			cp := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: fmt.Sprint("flood", k)}}
			_ = cp.ConnectEncode(&buf)
			conn.Write(buf.Bytes())
			go io.Copy(io.Discard, conn)
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 4, TopicName: "devices/room-1/cmd", Payload: bytes.Repeat([]byte("x"), 100)}
			buf.Reset()
			_ = pk.PublishEncode(&buf)
			one := buf.Bytes()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn.Write(one)
				flooded.Add(1)
			}
		}(k)
	}
	var acks []packets.Packet
	done := make(chan struct{})
	const N = 3000
	go func() {
		defer close(done)
		r := bufio.NewReader(c.conn)
		for len(acks) < N {
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			bt, err := r.ReadByte()
			if err != nil {
				t.Logf("reader: %v after %d acks", err, len(acks))
				return
			}
			var fh packets.FixedHeader
			fh.Decode(bt)
			n, mul := 0, 1
			for {
				d, _ := r.ReadByte()
				n += int(d&127) * mul
				if d&128 == 0 {
					break
				}
				mul *= 128
			}
			body := make([]byte, n)
			io.ReadFull(r, body)
			if fh.Type == packets.Suback {
				subscribed.Store(1)
			}
			if fh.Type == packets.Puback {
				pk := packets.Packet{ProtocolVersion: 5, FixedHeader: fh}
				pk.PubackDecode(body)
				if pk.PacketID < 9000 {
					acks = append(acks, pk)
				}
			}
		}
	}()
	// The subscription is in place and the flood is under way before the publishes start.
	wait.Until(t, 10*time.Second, "the SUBACK and 1,000 flooding publishes", func() ([2]int64, bool) {
		s, f := subscribed.Load(), flooded.Load()
		return [2]int64{s, f}, s == 1 && f >= 1000
	})
	for i := 1; i <= N; i++ {
		p := "ok"
		if i%3 == 0 {
			p = "full"
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
			TopicName: "devices/room-1/readings", PacketID: uint16(i%60000 + 1), Payload: []byte(p)}
		c.send(t, pk.PublishEncode)
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	close(stop)
	wg.Wait()
	bad := 0
	for i := 1; i < len(acks); i++ {
		if acks[i].PacketID < acks[i-1].PacketID {
			bad++
			if bad < 5 {
				t.Logf("out of order: %d (rc %x) after %d (rc %x)", acks[i].PacketID, acks[i].ReasonCode, acks[i-1].PacketID, acks[i-1].ReasonCode)
			}
		}
	}
	require.Len(t, acks, N)
	require.Zero(t, bad, "acknowledgements out of order")
}
