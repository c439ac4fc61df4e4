package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// RefusalLogEvery is how often the log says again that one device's publishes or subscriptions
// are refused: the first refusal is logged at once, the next ones within this time are counted
// (Refused, /metrics) and summed up in the device's next line. A device that keeps publishing
// where it may not costs one short line a minute, not one a message.
const RefusalLogEvery = time.Minute

// maxLoggedTopic is how much of a topic a log line repeats (a topic may be 64 KiB long).
const maxLoggedTopic = 200

// refusals decides which refusals are logged: a device's first, then one a RefusalLogEvery.
type refusals struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]*refused // by device id
}

type refused struct {
	logged time.Time // when the device's last line was written
	since  int64     // refusals since then, not logged
}

// maxRefusers bounds the devices remembered; past it they are forgotten (each then logs once more).
const maxRefusers = 10000

// note counts one refusal of device id; log says whether to write a line now, and unlogged how
// many refusals of the device went unlogged before this one.
func (r *refusals) note(id string) (log bool, unlogged int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	s := r.seen[id]
	if s == nil {
		if len(r.seen) >= maxRefusers {
			clear(r.seen)
		}
		s = &refused{}
		r.seen[id] = s
	} else if now.Sub(s.logged) < RefusalLogEvery {
		s.since++
		return false, 0
	}
	s.logged, unlogged, s.since = now, s.since, 0
	return true, unlogged
}

// loggedTopic is t as a log line repeats it: at most maxLoggedTopic bytes, quoted by the handler.
func loggedTopic(t string) string {
	if len(t) <= maxLoggedTopic {
		return t
	}
	return fmt.Sprintf("%s… (%d bytes)", t[:maxLoggedTopic], len(t))
}

// briefPackets is the broker library's log with its packets shortened: the library logs a packet
// it could not process whole, and a 120 KB payload became 6.9 MB of decimal bytes in the log
// (issue 26, F4). A packet is logged as its type, topic and payload size; the library's line for a
// publish refused by the certificates' policy is dropped, as the policy's own line (rate-limited)
// says it.
type briefPackets struct{ slog.Handler }

func (h briefPackets) Handle(ctx context.Context, r slog.Record) error {
	drop := false
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch v := a.Value.Any().(type) {
		case packets.Packet:
			a = slog.String(a.Key, fmt.Sprintf("%s topic=%q payload=%d bytes", packets.PacketNames[v.FixedHeader.Type],
				loggedTopic(v.TopicName), len(v.Payload)))
		case error:
			drop = drop || errors.Is(v, packets.ErrNotAuthorized)
		}
		out.AddAttrs(a)
		return true
	})
	if drop {
		return nil
	}
	return h.Handler.Handle(ctx, out)
}

func (h briefPackets) WithAttrs(as []slog.Attr) slog.Handler {
	return briefPackets{h.Handler.WithAttrs(as)}
}

func (h briefPackets) WithGroup(name string) slog.Handler {
	return briefPackets{h.Handler.WithGroup(name)}
}
