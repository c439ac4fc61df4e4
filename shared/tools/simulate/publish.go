package simulate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotwatch/iotwatch/shared/contract/topic"
)

// Options say where and how to publish.
type Options struct {
	Broker   string // host:port
	ClientID string // for AWS IoT Core: the thing name
	TLS      bool
	Cert     string        // client certificate (PEM), for TLS
	Key      string        // its private key (PEM)
	CA       string        // the server's CA (PEM), e.g. AmazonRootCA1.pem
	Rate     float64       // messages per second; 0: as fast as acknowledgements allow
	Inflight int           // unacknowledged messages at most; default 256
	Timeout  time.Duration // for each acknowledgement; default 30 s
	// BasicIngest, when set, names the topic rule the readings are published to directly
	// (AWS IoT Core's Basic Ingest: $aws/rules/RULE/devices/{id}/readings, no messaging charge).
	BasicIngest string
	// Acked, when set, is called with each message, and when, once the broker acknowledged it.
	Acked func(Message, time.Time)
}

// Result counts a run.
type Result struct {
	Published, Acked int
	Duration         time.Duration
}

// Publish sends every message of src at QoS 1, in order, and waits for every acknowledgement.
func Publish(ctx context.Context, src Source, o Options) (Result, error) {
	var res Result
	if o.Inflight <= 0 {
		o.Inflight = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	var tlsCfg *tls.Config
	if o.TLS {
		var err error
		if tlsCfg, err = tlsConfig(o); err != nil {
			return res, err
		}
		if o.ClientID == "" && len(tlsCfg.Certificates) > 0 {
			// iotwatch run takes a device's connection under its certificate's name only (AWS IoT
			// Core: give the thing name with --client-id).
			if leaf, err := x509.ParseCertificate(tlsCfg.Certificates[0].Certificate[0]); err == nil {
				o.ClientID = leaf.Subject.CommonName
			}
		}
	}
	if o.ClientID == "" {
		o.ClientID = fmt.Sprintf("iotwatch-simulate-%d", os.Getpid())
	}
	opts := paho.NewClientOptions().SetClientID(o.ClientID).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).SetOrderMatters(true).SetWriteTimeout(o.Timeout)
	if o.TLS {
		opts.AddBroker("ssl://" + o.Broker).SetTLSConfig(tlsCfg)
	} else {
		opts.AddBroker("tcp://" + o.Broker)
	}
	client := paho.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return res, fmt.Errorf("connecting to %s: %v", o.Broker, errOr(tok.Error(), "timed out"))
	}
	defer client.Disconnect(250)

	type pending struct {
		tok paho.Token
		msg Message
	}
	window := make([]pending, 0, o.Inflight)
	wait := func(p pending) error {
		if !p.tok.WaitTimeout(o.Timeout) {
			return fmt.Errorf("no acknowledgement within %s", o.Timeout)
		}
		if err := p.tok.Error(); err != nil {
			return err
		}
		res.Acked++
		if o.Acked != nil {
			o.Acked(p.msg, time.Now())
		}
		return nil
	}
	start := time.Now()
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	next := start
	for {
		if err := ctx.Err(); err != nil {
			break
		}
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
		}
		if len(window) == o.Inflight {
			if err := wait(window[0]); err != nil {
				return res, err
			}
			window = window[1:]
		}
		t := m.Topic
		if dev, ok := topic.DeviceOf(t); ok && o.BasicIngest != "" {
			t = topic.BasicIngest(o.BasicIngest, dev)
		}
		window = append(window, pending{client.Publish(t, 1, false, m.Payload), m})
		res.Published++
	}
	for _, p := range window {
		if err := wait(p); err != nil {
			return res, err
		}
	}
	res.Duration = time.Since(start)
	return res, ctx.Err()
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

func tlsConfig(o Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.Cert != "" || o.Key != "" {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if o.CA != "" {
		pem, err := os.ReadFile(o.CA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
