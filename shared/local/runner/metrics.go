package runner

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/channel"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/local/wal"
	"github.com/iotwatch/iotwatch/shared/service/links"
)

// ErrInsecureHTTP is returned for an HTTP address other than loopback without TLS.
var ErrInsecureHTTP = errors.New("refusing to serve HTTP to the network without TLS")

// ownHost refuses, on a loopback listener, a request whose Host is not a loopback name: a page
// of another site whose name was made to resolve to 127.0.0.1 (DNS rebinding) would otherwise
// read the answers in a browser on this machine. The dashboard's pages check the same
// (links.LoopbackHost); on a network address TLS and its name stand in for it.
func ownHost(loopback bool, h http.Handler) http.Handler {
	if !loopback {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !links.LoopbackHost(r.Host) {
			http.Error(w, "answered on this machine's own addresses only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// healthz answers 200 while the run takes messages, 503 when its log is full (the broker is not
// acknowledging) or it is stopping.
func (p *pipeline) healthz(w http.ResponseWriter, _ *http.Request) {
	st := p.log.Stats()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case st.Broken:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "log stopped: a failed write could not be cut off; restart iotwatch")
	case p.unreadable.Load() != nil:
		f := p.unreadable.Load()
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "log unreadable: the %s reader stopped (%v); messages are not acknowledged\n", f.consumer, f.err)
	case p.stalled.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "evaluation stalled: records given up cannot be written to errors/failed-batches")
	case st.Full:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "log full: messages are not acknowledged")
	case p.broker == nil || p.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not accepting messages: stopping, lag %d\n", p.lag())
	default:
		fmt.Fprintf(w, "ok: lag %d\n", p.lag())
	}
}

// metrics serves the run's counters in the Prometheus text format.
func (p *pipeline) metrics(w http.ResponseWriter, _ *http.Request) {
	sum := p.summary()
	st := p.log.Stats()
	var refused struct{ messages, connect, notAllowed, revoked int64 }
	if p.broker != nil {
		r := p.broker.Refused()
		refused.messages, refused.connect, refused.notAllowed, refused.revoked = r.Messages, r.Connect, r.NotAllowed, r.Revoked
	}
	var b strings.Builder
	metric := func(name, typ, help string, samples ...sample) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, s := range samples {
			fmt.Fprintf(&b, "%s%s %v\n", name, s.labels, s.value)
		}
	}
	one := func(v any) sample { return sample{"", v} }
	metric("iotwatch_messages_total", "counter", "MQTT messages on the readings topics acknowledged (durable in the log).", one(sum.Messages))
	metric("iotwatch_readings_total", "counter", "Readings the evaluation accepted (late and duplicates included).", one(sum.Readings))
	var rejected []sample
	for _, r := range sortedKeys(sum.Rejected) {
		rejected = append(rejected, sample{fmt.Sprintf("{reason=%q}", r), sum.Rejected[r]})
	}
	metric("iotwatch_rejected_total", "counter", "Messages quarantined, by reason.", rejected...)
	var alerts []sample
	for k, n := range sum.Alerts {
		alerts = append(alerts, sample{fmt.Sprintf("{kind=%q,severity=%q}", k.Kind, k.Severity), n})
	}
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].labels < alerts[j].labels })
	metric("iotwatch_alerts_total", "counter", "Alerts raised, by kind and severity.", alerts...)
	metric("iotwatch_lag_messages", "gauge", "Acknowledged messages the evaluation has not done (they wait in the log).", one(p.lag()))
	metric("iotwatch_bronze_lag_messages", "gauge", "Acknowledged messages not yet written to bronze.", one(p.bronzeLag()))
	metric("iotwatch_bronze_records_total", "counter", "Records written to bronze.", one(sum.Bronze))
	metric("iotwatch_bronze_unframed_total", "counter", "Messages bronze left out: not one line (quarantined by the evaluation).", one(sum.Unframed))
	metric("iotwatch_given_up_total", "counter", "Records the stream gave up on (errors/failed-batches).", one(sum.GivenUp))
	metric("iotwatch_log_bytes", "gauge", "Bytes of the log on disk.", one(st.Bytes))
	metric("iotwatch_log_segments", "gauge", "Segment files of the log.", one(st.Segments))
	full := 0
	if st.Full {
		full = 1
	}
	metric("iotwatch_log_full", "gauge", "1 while the log refuses messages (cap or disk full): the broker is not acknowledging.", one(full))
	metric("iotwatch_log_read_errors_total", "counter", "Readers of the log stopped by what they could not read, by consumer.",
		sample{`{consumer="bronze"}`, p.readErrors[consumerBronze].Load()}, sample{`{consumer="evaluate"}`, p.readErrors[consumerEvaluate].Load()})
	metric("iotwatch_log_appended_total", "counter", "Records appended to the log.", one(st.Appended))
	metric("iotwatch_log_written_bytes_total", "counter", "Bytes appended to the log, frames included.", one(st.Written))
	metric("iotwatch_log_fsyncs_total", "counter", "Group commits of the log (one write and one fsync each).", one(st.Syncs))
	var buckets []sample
	cum := int64(0)
	for i, bound := range wal.SyncBounds {
		cum += st.SyncHist[i]
		buckets = append(buckets, sample{fmt.Sprintf("_bucket{le=%q}", strconv.FormatFloat(bound.Seconds(), 'g', -1, 64)), cum})
	}
	buckets = append(buckets, sample{`_bucket{le="+Inf"}`, st.Syncs}, sample{"_sum", st.SyncTime.Seconds()}, sample{"_count", st.Syncs})
	metric("iotwatch_log_commit_seconds", "histogram", "Latency of the log's group commits (one write and one fsync each).", buckets...)
	metric("iotwatch_readings_per_second", "gauge", "Messages acknowledged per second, over the last second.", one(p.rate()))
	metric("iotwatch_mqtt_refused_total", "counter", "What the broker refused, by reason.",
		sample{`{reason="not_kept"}`, refused.messages}, sample{`{reason="no_identity"}`, refused.connect},
		sample{`{reason="topic_not_allowed"}`, refused.notAllowed}, sample{`{reason="revoked"}`, refused.revoked})
	if sum.Notify.Counts != nil {
		var sent, retried, failed []sample
		for _, k := range channel.Kinds {
			if k == channel.Email || k == channel.SMS {
				continue // SNS, on AWS only
			}
			c, label := sum.Notify.Counts[k], fmt.Sprintf("{channel=%q}", k)
			sent, retried, failed = append(sent, sample{label, c.Sent}), append(retried, sample{label, c.Retried}), append(failed, sample{label, c.Failed})
		}
		metric("iotwatch_notify_sent_total", "counter", "Alerts delivered to channels, by channel kind.", sent...)
		metric("iotwatch_notify_retried_total", "counter", "Tries of a delivery that failed and were tried again, by channel kind.", retried...)
		metric("iotwatch_notify_failed_total", "counter", "Deliveries given up (dead letters in DIR/notify-failed/), by channel kind.", failed...)
		metric("iotwatch_notify_queued", "gauge", "Deliveries waiting in the queue on disk (DIR/notify/outbox), those in flight included.", one(sum.Notify.Queued))
		metric("iotwatch_notify_in_flight", "gauge", "Deliveries being tried now.", one(sum.Notify.InFlight))
	}
	metric("iotwatch_uptime_seconds", "gauge", "Seconds since the run started.", one(time.Since(p.started).Seconds()))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

type sample struct {
	labels string
	value  any
}

// bronzeDone is the offset below which bronze's writer has every record.
func (p *pipeline) bronzeDone() uint64 {
	if n := p.bronzeNext.Load(); n > 0 {
		return n
	}
	return p.log.Checkpointed(consumerBronze)
}

func sortedKeys(m map[reading.Reason]int) []reading.Reason {
	out := make([]reading.Reason, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
