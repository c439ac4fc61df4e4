// Package broker is the MQTT broker of the one-machine pipeline (mochi-mqtt) with the topic rule
// of the stack applied inside it: every message on devices/+/readings is handed, with the
// topic's device id, to the rule's action, and acknowledged only once the action says it is
// kept (durable, in the pipeline's log), so an acknowledged message is never lost, and one the
// action refused is not acknowledged (the client retries).
//
// Like AWS IoT Core it can require TLS with client certificates: a device's identity is the
// common name of its certificate, and it may publish only to devices/{that id}/readings.
// Without TLS it listens on loopback addresses only.
package broker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
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

// Action is the topic rule's action: it takes one message of a device (payload is the broker's:
// valid during the call only, to be copied if kept) and calls done once,
// from any goroutine, when the message is kept (nil: it is acknowledged then) or refused (not
// acknowledged; ErrUnavailable says the pipeline is stopping, ErrFull that it has no room).
// Calls of done for one client's messages must come in the order of the calls of Action (MQTT
// acknowledges in order).
type Action func(deviceID string, payload []byte, done func(error))

// ErrUnavailable, passed to done, refuses a message because the pipeline is stopping.
var ErrUnavailable = errors.New("the pipeline is stopping")

// ErrFull, passed to done (wrapped), refuses a message because the pipeline has no room for it.
var ErrFull = errors.New("the pipeline is full")

// ErrInsecure is returned by Start for an address other than loopback without TLS.
var ErrInsecure = errors.New("refusing to accept MQTT from the network without TLS and client certificates")

// Options configures a broker.
type Options struct {
	Addr string // listen address, default DefaultAddr
	// TLS, when set, is the listener's TLS configuration; it must require and verify client
	// certificates (tls.RequireAndVerifyClientCert), whose common name is the device's id.
	TLS *tls.Config
	// Revoked, with TLS, is the deny list of certificates the CA signed and the broker refuses
	// (pki.DenyList): checked at each connection, and by DropRevoked for those connected.
	Revoked DenyList
	Log     *slog.Logger
}

// DenyList says whether a client certificate is revoked.
type DenyList interface {
	Revoked(*x509.Certificate) bool
}

// Broker is a running broker.
type Broker struct {
	server   *mqtt.Server
	listener *listener
	addr     string
	rule     *ruleHook
	close    sync.Once
	closeErr error
}

// Start listens and serves until Close.
func Start(opt Options, action Action) (*Broker, error) {
	return start(opt, action, limits{maxConns: MaxConnections, connectTimeout: ConnectTimeout})
}

// limits are the listener's limits (tests make them small).
type limits struct {
	maxConns       int
	connectTimeout time.Duration
	listen         func(network, addr string) (net.Listener, error)
	now            func() time.Time // the clock of the refusals' log lines (nil: time.Now)
}

// Loopback reports whether addr (host:port) names only this machine: a loopback address or
// localhost.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func start(opt Options, action Action, lim limits) (*Broker, error) {
	if opt.Addr == "" {
		opt.Addr = DefaultAddr
	}
	if opt.TLS == nil && !Loopback(opt.Addr) {
		return nil, fmt.Errorf("--mqtt %s: %w: give --tls-cert, --tls-key and --client-ca (iotwatch ca init issues them), or listen on 127.0.0.1", opt.Addr, ErrInsecure)
	}
	if opt.TLS != nil && opt.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("the broker's TLS configuration must require and verify client certificates")
	}
	if lim.listen == nil {
		lim.listen = net.Listen
	}
	ln, err := lim.listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening for MQTT on %s: %w", opt.Addr, err)
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := ln.Addr().String()
	if opt.TLS != nil {
		ln = tls.NewListener(ln, opt.TLS)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketSize
	caps.MaximumClients = MaxConnections
	caps.MaximumQos = 1 // as AWS IoT Core: QoS 2 is taken as QoS 1
	b := &Broker{server: mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(briefPackets{log.Handler()}), Capabilities: caps}), addr: addr}
	b.listener = newListener("mqtt", ln, lim.maxConns, lim.connectTimeout)
	now := lim.now
	if now == nil {
		now = time.Now
	}
	b.rule = &ruleHook{action: action, tls: opt.TLS != nil, revoked: opt.Revoked, log: log, refusals: refusals{now: now, seen: map[string]*refused{}}}
	fail := func(what string, err error) (*Broker, error) {
		_ = b.server.Close() // closes the listeners it has; what failed is the error returned
		_ = ln.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := b.server.AddHook(b.rule, nil); err != nil {
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

// Accepted is the number of messages the rule took and acknowledged.
func (b *Broker) Accepted() int64 { return b.rule.accepted.Load() }

// Refused counts what the broker refused: messages the action refused (not acknowledged) and
// connections or topics a certificate does not allow.
type Refused struct {
	Messages   int64 // refused by the action: not acknowledged
	Connect    int64 // connections without a usable certificate identity
	Revoked    int64 // connections refused, or ended, for a revoked certificate
	NotAllowed int64 // publishes or subscriptions to a topic the device's certificate does not allow
}

// Refused returns the broker's refusals so far.
func (b *Broker) Refused() Refused {
	return Refused{Messages: b.rule.refused.Load(), Connect: b.rule.refusedConnect.Load(), NotAllowed: b.rule.notAllowed.Load(),
		Revoked: b.rule.revokedCount.Load()}
}

// DropRevoked disconnects the clients whose certificate the deny list now holds (after it was
// read again: a revoked device connected before keeps no session) and returns how many.
func (b *Broker) DropRevoked() int {
	if b.rule.revoked == nil {
		return 0
	}
	n := 0
	b.rule.ids.Range(func(k, v any) bool {
		cl, who := k.(*mqtt.Client), v.(device)
		if b.rule.revoked.Revoked(who.cert) && b.rule.drop(cl, who) {
			n++
		}
		return true
	})
	return n
}

// drop disconnects a client whose certificate is revoked, once (DropRevoked and a session set up
// while the list was read again may both find it): its publishes from then on are refused, until
// the connection ends.
func (h *ruleHook) drop(cl *mqtt.Client, who device) bool {
	if _, was := h.ids.LoadAndDelete(cl); !was {
		return false
	}
	h.log.Warn("MQTT: disconnected a client whose certificate was revoked", "device", who.id, "serial", who.cert.SerialNumber.Text(16))
	h.revokedCount.Add(1)
	cl.Stop(errRevoked)
	return true
}

var errRevoked = errors.New("the client certificate was revoked")

// Close stops accepting and disconnects every client; calling it again does nothing.
func (b *Broker) Close() error {
	b.close.Do(func() {
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("closing the broker: %w", err)
		}
	})
	return b.closeErr
}

// ruleHook is the topic rule (topic.RuleSQL) and the certificates' policy: the rule runs in
// OnPublish, and the acknowledgement is sent when the action's done says so.
type ruleHook struct {
	mqtt.HookBase
	action  Action
	tls     bool
	revoked DenyList // nil: none
	log     *slog.Logger
	// refusals rate-limits the policy's lines (refusals.go).
	refusals refusals

	accepted, refused, refusedConnect, notAllowed, revokedCount atomic.Int64
	ackers                                                      sync.Map // *mqtt.Client -> *acker
	ids                                                         sync.Map // *mqtt.Client -> device, once connected
}

// device is a connected client's certificate and the device id it names.
type device struct {
	id   string
	cert *x509.Certificate
}

func (h *ruleHook) ID() string { return "iotwatch-rule" }

func (h *ruleHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablished, mqtt.OnACLCheck, mqtt.OnDisconnect:
		return true
	}
	return false
}

// identity is the device id of a client's certificate: its common name, which must be a valid
// device id (no '/', '+' or '#': a name of another CA's making cannot widen the topics below).
func identity(cl *mqtt.Client) (device, bool) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return device{}, false
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 || !reading.ValidDeviceID(st.PeerCertificates[0].Subject.CommonName) {
		return device{}, false
	}
	return device{id: st.PeerCertificates[0].Subject.CommonName, cert: st.PeerCertificates[0]}, true
}

// OnConnectAuthenticate, with TLS, takes a client whose certificate names a device, whose client
// id is that name (so that one device cannot take over another's session, as the usual AWS IoT
// policy has it), and whose will, if any, is on a topic it may publish to.
func (h *ruleHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if !h.tls {
		return true // loopback only: as before, for development
	}
	who, ok := identity(cl)
	id := who.id
	switch {
	case !ok:
		h.log.Warn("MQTT: refused a connection whose certificate names no valid device id")
	case h.revoked != nil && h.revoked.Revoked(who.cert):
		h.log.Warn("MQTT: refused a connection whose certificate is revoked", "device", id, "serial", who.cert.SerialNumber.Text(16))
		h.revokedCount.Add(1)
		return false
	case pk.Connect.ClientIdentifier != id:
		h.log.Warn("MQTT: refused a connection whose client id is not its certificate's device id", "device", id,
			"client_id", pk.Connect.ClientIdentifier)
		ok = false
	case pk.Connect.WillFlag && !allowed(id, pk.Connect.WillTopic, true):
		h.log.Warn("MQTT: refused a connection whose will is on a topic not its own", "device", id, "topic", pk.Connect.WillTopic)
		ok = false
	}
	if !ok {
		h.refusedConnect.Add(1)
	}
	return ok
}

// allowed: a device publishes to its own readings topic (directly, or through Basic Ingest to
// the rule: the one-machine pipeline has one rule, under any name) and subscribes under its own
// devices/{id}/ only, as the policy of an AWS IoT thing does.
func allowed(id, t string, write bool) bool {
	return t == topic.Readings(id) || write && strings.HasPrefix(t, topic.BasicIngestPrefix) && topic.RuleTopic(t) == topic.Readings(id) ||
		(!write && strings.HasPrefix(t, "devices/"+id+"/"))
}

// OnSessionEstablished keeps the client's device id for its ACL checks (read once, not from the
// TLS state at every publish). mochi calls OnDisconnect for every session established.
func (h *ruleHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if who, ok := identity(cl); h.tls && ok {
		h.ids.Store(cl, who)
		// The deny list may have been read again since the client authenticated, and DropRevoked
		// run before this session was kept: checked once more, now that it is.
		if h.revoked != nil && h.revoked.Revoked(who.cert) {
			h.drop(cl, who)
		}
	}
}

// OnACLCheck applies allowed to every publish and subscription.
func (h *ruleHook) OnACLCheck(cl *mqtt.Client, t string, write bool) bool {
	if !h.tls {
		return true
	}
	v, ok := h.ids.Load(cl)
	id := ""
	if ok {
		id = v.(device).id
	}
	ok = ok && allowed(id, t, write)
	if !ok {
		h.notAllowed.Add(1)
		if log, unlogged := h.refusals.note(id); log {
			h.log.Warn("MQTT: topic not allowed for this certificate (logged once a minute per device; all counted in /metrics)",
				"device", id, "topic", loggedTopic(t), "publish", write, "refused_since_last_line", unlogged)
		}
	}
	return ok
}

func (h *ruleHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.ids.Delete(cl)
	if a, ok := h.ackers.LoadAndDelete(cl); ok {
		close(a.(*acker).stop)
	}
}

func (h *ruleHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	dev, ok := topic.DeviceOf(pk.TopicName)
	if !ok {
		return pk, nil // not the rule's topic: the broker delivers it, the pipeline ignores it
	}
	payload := pk.Payload // the action copies what it keeps
	if pk.FixedHeader.Qos == 0 || cl == nil || cl.Net.Inline {
		h.action(dev, payload, func(err error) {
			if err == nil {
				h.accepted.Add(1)
			} else {
				h.refused.Add(1)
			}
		})
		return pk, packets.ErrRejectPacket // taken by the rule: nothing to send to subscribers
	}
	a := h.ackerOf(cl)
	id, v5 := pk.PacketID, cl.Properties.ProtocolVersion == 5
	h.action(dev, payload, func(err error) {
		if err == nil {
			h.accepted.Add(1)
			a.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
			return
		}
		h.refused.Add(1)
		// Refused. MQTT 3.1.1 has no negative acknowledgement: the packet stays unacknowledged,
		// and the client sends it again when it reconnects. MQTT 5 says why (a PUBACK with a
		// reason code); the message is then the client's to send again, or not.
		if v5 {
			code := packets.ErrImplementationSpecificError
			if errors.Is(err, ErrFull) {
				code = packets.ErrQuotaExceeded
			}
			a.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id, ReasonCode: code.Code,
				Properties: packets.Properties{ReasonString: code.Reason}})
		}
	})
	// mochi sends nothing for a packet it is told to drop: the acknowledgement is the acker's.
	return pk, packets.ErrRejectPacket
}

// acker sends one client's acknowledgements from its own goroutine, so that a client slow to
// read them holds up nobody else (the log's committer answers every client).
type acker struct {
	cl   *mqtt.Client
	ch   chan packets.Packet
	stop chan struct{}
}

// ackQueue bounds the acknowledgements waiting for one client; past it they are dropped (the
// client sends the message again: a duplicate, never a loss).
const ackQueue = 4096

func (h *ruleHook) ackerOf(cl *mqtt.Client) *acker {
	if a, ok := h.ackers.Load(cl); ok {
		return a.(*acker)
	}
	a := &acker{cl: cl, ch: make(chan packets.Packet, ackQueue), stop: make(chan struct{})}
	if prev, loaded := h.ackers.LoadOrStore(cl, a); loaded {
		return prev.(*acker)
	}
	go a.run()
	return a
}

// run sends the acknowledgements as they come; those waiting together go in one write (a
// PUBACK is 4 bytes: one write each took a tenth of the pipeline's time at full speed). Every
// acknowledgement, negative ones too, goes this one way, so that they keep their order (mochi's
// WritePacket may hold a packet in its buffer while a client has messages queued to it).
func (a *acker) run() {
	var buf bytes.Buffer
	props := a.cl.Properties.Props
	for {
		var pk packets.Packet
		select {
		case pk = <-a.ch:
		case <-a.stop:
			return
		}
		for n := 0; ; n++ {
			pk.ProtocolVersion = a.cl.Properties.ProtocolVersion
			if props.RequestProblemInfoFlag && props.RequestProblemInfo == 0 {
				pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29]: no reason string then
			}
			if err := pk.PubackEncode(&buf); err != nil {
				return
			}
			if n == 255 {
				break
			}
			more := false
			select {
			case pk, more = <-a.ch:
			default:
			}
			if !more {
				break
			}
		}
		a.cl.Lock() // mochi's own writes to the connection hold it too
		_, err := a.cl.Net.Conn.Write(buf.Bytes())
		a.cl.Unlock()
		buf.Reset()
		if err != nil {
			return // the connection is gone: its client sends again what it did not see acknowledged
		}
	}
}

func (a *acker) send(pk packets.Packet) {
	select {
	case a.ch <- pk:
	case <-a.stop:
	default:
	}
}
