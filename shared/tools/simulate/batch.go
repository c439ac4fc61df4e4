package simulate

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
)

// Batches sends each device's readings N to a message, as a device that buffers them does
// (DESIGN.md, "Batched messages"): {"device_id":…,"readings":[…]}, each element the reading
// without its device_id, in the order the source gave them. A device's batch goes out when it
// is full, and every partial one at the end. Messages whose device id cannot be read, and those
// that are not JSON objects, go out alone and unchanged (they are the source's faults to keep).
type Batches struct {
	Source Source
	N      int

	open  map[string]*pending
	order []string  // devices with an open batch, in the order they opened
	ready []Message // batches and lone messages to send, in order
	done  bool
	// Readings counts the readings of the messages sent so far.
	Readings int
}

type pending struct {
	topic string
	elems [][]byte
	count int
}

// Next implements Source.
func (b *Batches) Next() (Message, error) {
	if b.open == nil {
		b.open = map[string]*pending{}
	}
	for len(b.ready) == 0 {
		if b.done {
			return Message{}, io.EOF
		}
		m, err := b.Source.Next()
		if err == io.EOF {
			b.done = true
			for _, dev := range b.order {
				if p := b.open[dev]; p != nil && p.count > 0 {
					b.ready = append(b.ready, b.message(dev, p))
				}
			}
			continue
		}
		if err != nil {
			return Message{}, err
		}
		b.add(m)
	}
	m := b.ready[0]
	b.ready = b.ready[1:]
	return m, nil
}

func (b *Batches) add(m Message) {
	dev, elem, ok := element(m.Payload)
	if !ok || b.N <= 1 {
		b.Readings++
		b.ready = append(b.ready, m)
		return
	}
	p := b.open[dev]
	if p == nil {
		p = &pending{topic: m.Topic}
		b.open[dev] = p
		b.order = append(b.order, dev)
	}
	p.elems = append(p.elems, elem)
	p.count++
	if p.count == b.N {
		b.ready = append(b.ready, b.message(dev, p))
	}
}

// message is a device's batch, sent: the pending batch is emptied.
func (b *Batches) message(dev string, p *pending) Message {
	var buf bytes.Buffer
	id, _ := json.Marshal(dev)
	buf.WriteString(`{"device_id":`)
	buf.Write(id)
	buf.WriteString(`,"readings":[`)
	buf.Write(bytes.Join(p.elems, []byte(",")))
	buf.WriteString("]}")
	b.Readings += p.count
	p.elems, p.count = nil, 0
	t := p.topic
	if t == "" {
		t = topic.Readings(dev)
	}
	return Message{Topic: t, Payload: buf.Bytes()}
}

// element is a single reading's device id and the reading without it, as compact JSON; false
// when the payload is not a JSON object with a string device_id.
func element(payload []byte) (string, []byte, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return "", nil, false
	}
	var dev string
	if json.Unmarshal(fields["device_id"], &dev) != nil || dev == "" {
		return "", nil, false
	}
	delete(fields, "device_id")
	elem, err := json.Marshal(fields)
	if err != nil {
		return "", nil, false
	}
	return dev, elem, true
}
