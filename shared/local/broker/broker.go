// Package broker is the MQTT broker of the one-machine pipeline (mochi-mqtt) with the topic rule
// of the stack applied inside it: every message on devices/+/readings is handed, with the
// topic's device id, to the rule's action before the broker acknowledges it, so an acknowledged
// message is on its way, and one the action refused is not acknowledged (the client retries).
package broker

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
)

// DefaultAddr is where the broker listens unless told otherwise.
const DefaultAddr = "127.0.0.1:1883"

// The broker's limits.
const (
	// MaxPacketSize refuses larger MQTT packets before reading them: AWS IoT Core takes messages
	// of 128 KB, and the topic and headers get 1 KiB more.
	MaxPacketSize = 128*1024 + 1024
	// MaxConnections bounds the connections held at once, connected or not yet.
	MaxConnections = 10000
	// ConnectTimeout is how long a new connection has to send CONNECT.
	ConnectTimeout = 10 * time.Second
)

// Action is the topic rule's action: it takes one message of a device. An error refuses the
// message (not acknowledged); ErrUnavailable says the pipeline is shutting down.
type Action func(deviceID string, payload []byte) error

// ErrUnavailable, returned by an Action, refuses a message because the pipeline is stopping.
var ErrUnavailable = fmt.Errorf("the pipeline is stopping")

// Broker is a running broker.
type Broker struct {
	server   *mqtt.Server
	listener *listener
	addr     string
	accepted atomic.Int64
	close    sync.Once
	closeErr error
}

// Start listens on addr and serves until Close.
func Start(addr string, action Action, log *slog.Logger) (*Broker, error) {
	return start(addr, action, log, limits{maxConns: MaxConnections, connectTimeout: ConnectTimeout})
}

// limits are the listener's limits (tests make them small).
type limits struct {
	maxConns       int
	connectTimeout time.Duration
	listen         func(network, addr string) (net.Listener, error)
}

func start(addr string, action Action, log *slog.Logger, lim limits) (*Broker, error) {
	if lim.listen == nil {
		lim.listen = net.Listen
	}
	ln, err := lim.listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for MQTT on %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketSize
	caps.MaximumClients = MaxConnections
	b := &Broker{server: mqtt.New(&mqtt.Options{InlineClient: false, Logger: log, Capabilities: caps}), addr: ln.Addr().String()}
	b.listener = newListener("mqtt", ln, lim.maxConns, lim.connectTimeout)
	fail := func(what string, err error) (*Broker, error) {
		_ = b.server.Close() // closes the listeners it has; what failed is the error returned
		_ = ln.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := b.server.AddHook(new(auth.AllowHook), nil); err != nil {
		return fail("adding the auth hook", err)
	}
	if err := b.server.AddHook(&ruleHook{action: action, accepted: &b.accepted}, nil); err != nil {
		return fail("adding the topic rule", err)
	}
	if err := b.server.AddListener(b.listener); err != nil {
		return fail("adding the listener", err)
	}
	if err := b.server.Serve(); err != nil {
		return fail("starting the broker", err)
	}
	return b, nil
}

// Addr is the address the broker listens on (the port chosen when addr ended in :0).
func (b *Broker) Addr() string { return b.addr }

// Accepted is the number of messages the rule took.
func (b *Broker) Accepted() int64 { return b.accepted.Load() }

// Close stops accepting and disconnects every client; calling it again does nothing.
func (b *Broker) Close() error {
	b.close.Do(func() {
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("closing the broker: %w", err)
		}
	})
	return b.closeErr
}

// ruleHook is the topic rule (topic.RuleSQL): it runs in OnPublish, before the PUBACK.
type ruleHook struct {
	mqtt.HookBase
	action   Action
	accepted *atomic.Int64
}

func (h *ruleHook) ID() string { return "iotwatch-rule" }

func (h *ruleHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *ruleHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	dev, ok := topic.DeviceOf(pk.TopicName)
	if !ok {
		return pk, nil // not the rule's topic: the broker delivers it, the pipeline ignores it
	}
	if err := h.action(dev, append([]byte(nil), pk.Payload...)); err != nil {
		// Refused: no PUBACK, so the client sends it again. MQTT 5 says why (a negative PUBACK);
		// MQTT 3.1.1 has no such thing, so the packet is dropped unacknowledged.
		if cl != nil && cl.Properties.ProtocolVersion == 5 {
			if err == ErrUnavailable {
				return pk, packets.ErrServerUnavailable
			}
			return pk, packets.ErrImplementationSpecificError
		}
		return pk, packets.ErrRejectPacket
	}
	h.accepted.Add(1)
	return pk, nil
}
