package broker

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is the broker's TCP listener. mochi's own gives up for good on the first Accept error
// (at the file limit, silently), lets a connection that never sends CONNECT live forever, and
// waits for such connections when it stops. This one retries Accept with a pause and a word in
// the log, caps the connections it holds, gives each ConnectTimeout to send CONNECT (mochi then
// sets the keep-alive deadline), and closes every connection it holds when it stops.
type listener struct {
	id             string
	ln             net.Listener
	maxConns       int
	connectTimeout time.Duration
	log            *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id string, ln net.Listener, maxConns int, connectTimeout time.Duration) *listener {
	return &listener{id: id, ln: ln, maxConns: maxConns, connectTimeout: connectTimeout, conns: map[net.Conn]struct{}{}}
}

func (l *listener) Init(log *slog.Logger) error { l.log = log; return nil }
func (l *listener) ID() string                  { return l.id }
func (l *listener) Address() string             { return l.ln.Addr().String() }
func (l *listener) Protocol() string            { return "tcp" }

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	pause := 5 * time.Millisecond
	var lastWarning time.Time
	warn := func(msg string, args ...any) { // at most once a second: a flood must not flood the log
		if time.Since(lastWarning) >= time.Second {
			lastWarning = time.Now()
			l.log.Warn(msg, args...)
		}
	}
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			// Out of file descriptors, a connection reset before it was accepted: wait, retry.
			warn("MQTT listener: accepting a connection failed; retrying", "err", err, "pause", pause)
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		if !l.track(conn) {
			_ = conn.Close()
			warn("MQTT listener: connection refused, too many open", "limit", l.maxConns)
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(l.connectTimeout)) // CONNECT must come by then
		go func() {
			defer l.untrack(conn)
			if err := establish(l.id, conn); err != nil {
				l.log.Debug("MQTT connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.conns) >= l.maxConns {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	_ = c.Close()
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Open is the number of connections held.
func (l *listener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Close stops accepting, disconnects the clients, and closes every connection still held (one
// that never sent CONNECT among them), so that the broker's wait for its clients ends.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	closeClients(l.id)
	_ = l.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}
