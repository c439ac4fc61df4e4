package replay

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/tools/simulate"
)

// Dir is the quarantine of a local lake (DIR/quarantine/dt=…/hour=…/).
type Dir struct{ Root string }

// Objects implements Source.
func (d Dir) Objects(ctx context.Context, from, to time.Time) ([]string, error) {
	return lake.HourObjects(ctx, lake.Dir(d.Root), lake.Quarantine, from, to, ".json.gz")
}

// Read implements Source.
func (d Dir) Read(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.Root, filepath.FromSlash(key)))
}

// MQTT sends to a broker as the devices do: QoS 1 on devices/{device}/readings, each message
// acknowledged (a local `iotwatch run`, or AWS IoT Core with the options' TLS).
type MQTT struct{ Options simulate.Options }

type messages struct{ msgs []Message }

func (m *messages) Next() (simulate.Message, error) {
	if len(m.msgs) == 0 {
		return simulate.Message{}, io.EOF
	}
	msg := m.msgs[0]
	m.msgs = m.msgs[1:]
	return simulate.Message{Topic: "devices/" + msg.Device + "/readings", Payload: msg.Data}, nil
}

// Send implements Sink.
func (s MQTT) Send(ctx context.Context, msgs []Message) (int, error) {
	res, err := simulate.Publish(ctx, &messages{msgs: msgs}, s.Options)
	if err == nil && res.Acked < len(msgs) {
		err = fmt.Errorf("the broker acknowledged %d of %d messages", res.Acked, len(msgs))
	}
	return res.Acked, err
}
