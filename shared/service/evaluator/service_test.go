package evaluator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/evaltest"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

// flakyPublisher refuses the next `fail` alerts, then accepts; it keeps what it accepted.
type flakyPublisher struct {
	mu   sync.Mutex
	fail int
	sent []string
}

func (p *flakyPublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(ns))
	for i, n := range ns {
		if p.fail > 0 {
			p.fail--
			errs[i] = errors.New("publisher down")
			continue
		}
		p.sent = append(p.sent, fmt.Sprintf("%s %s", n.Alert.Kind, n.Alert.Severity))
	}
	return errs
}

// failingQuarantine fails every write.
type failingQuarantine struct{}

func (failingQuarantine) Put(context.Context, string, []lake.Rejected) error {
	return errors.New("bucket unreachable")
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func msg(id string, minute int, temp float64) evaluator.Message {
	return evaluator.Message{ID: id, TopicDevice: "room-1", Arrival: t0.Add(time.Hour),
		Data: fmt.Appendf(nil, `{"device_id":"room-1","event_time":%q,"temperature":%g}`, t0.Add(time.Duration(minute)*time.Minute).Format(time.RFC3339), temp)}
}

var aliceConfig = []threshold.Config{{UserID: "alice", DeviceID: "room-1", TempWarning: threshold.Of(24), TempViolation: threshold.Of(26)}}

// TestFailedPublishIsRetriedAndSentOnce is the regression test of the lost alert: an ESCALATE
// whose publish fails is reported for retry, and the retry sends it, once. Before stores
// returned owned copies, the in-memory (and file) store's state had already moved on, so the
// retry raised nothing.
func TestFailedPublishIsRetriedAndSentOnce(t *testing.T) {
	ctx := context.Background()
	pub := &flakyPublisher{}
	svc := evaluator.New(memstore.New(aliceConfig, nil), pub, failingQuarantine{}, evaluator.DefaultConfig, nil, nil)

	out, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 25)})
	require.NoError(t, err)
	require.Empty(t, out.Retry)

	pub.fail = 1
	batch := []evaluator.Message{msg("2", 1, 27)}
	out, err = svc.Evaluate(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, []string{"2"}, out.Retry, "a failed publish is retried")
	assert.Equal(t, 1, out.Stats.FailedDevices)

	out, err = svc.Evaluate(ctx, batch) // the retry
	require.NoError(t, err)
	assert.Empty(t, out.Retry)
	out, err = svc.Evaluate(ctx, batch) // and a replay after success raises nothing
	require.NoError(t, err)
	assert.Equal(t, 1, out.Stats.Late+out.Stats.Duplicates)
	assert.Equal(t, []string{"OPEN WARNING", "ESCALATE VIOLATION"}, pub.sent)
}

func TestOutcomeNamesWhatToRetry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		batch     []evaluator.Message
		failAlert int
		want      []string
		wantStats evaluator.Stats
	}{
		{"all good", []evaluator.Message{msg("1", 0, 20), msg("2", 1, 25)}, 0, nil,
			evaluator.Stats{Records: 2, Readings: 2}},
		{"a rejected message whose quarantine write failed", []evaluator.Message{msg("1", 0, 20), {ID: "2", Data: []byte("{")}, msg("3", 1, 20)}, 0, []string{"2"},
			evaluator.Stats{Records: 3, Readings: 2}},
		{"a device whose publish failed: its first message", []evaluator.Message{msg("1", 0, 20), msg("2", 1, 25), msg("3", 2, 20)}, 1, []string{"1"},
			evaluator.Stats{Records: 3, Readings: 3, FailedDevices: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := evaluator.New(memstore.New(aliceConfig, nil), &flakyPublisher{fail: tc.failAlert}, failingQuarantine{}, evaluator.DefaultConfig, nil, nil)
			out, err := svc.Evaluate(ctx, tc.batch)
			require.NoError(t, err)
			assert.Equal(t, tc.want, out.Retry)
			got := out.Stats
			assert.Equal(t, []int{tc.wantStats.Records, tc.wantStats.Readings, tc.wantStats.FailedDevices, len(tc.want)},
				[]int{got.Records, got.Readings, got.FailedDevices, got.FailedRecords}, "records, readings, failed devices, failed records")
		})
	}
}

func TestAlertsAreCountedByKindAndSeverity(t *testing.T) {
	svc := evaluator.New(memstore.New(aliceConfig, nil), &flakyPublisher{}, failingQuarantine{}, evaluator.DefaultConfig, nil, nil)
	out, err := svc.Evaluate(context.Background(), []evaluator.Message{msg("1", 0, 25), msg("2", 1, 27), msg("3", 2, 20)})
	require.NoError(t, err)
	assert.Equal(t, map[evaluator.AlertKey]int{
		{Kind: alert.Open, Severity: alert.Warning}:       1,
		{Kind: alert.Escalate, Severity: alert.Violation}: 1,
		{Kind: alert.Resolve, Severity: alert.Violation}:  1,
	}, out.Stats.Alerts)
}

// TestDeletedConfigResolvesItsEpisode: thresholds deleted while an episode is open; the device's
// next reading resolves it, once, and the state written with it keeps a replay from resolving
// it again (before, the episode stayed open forever).
func TestDeletedConfigResolvesItsEpisode(t *testing.T) {
	ctx := context.Background()
	pub := &flakyPublisher{}
	store := memstore.New(aliceConfig, nil)
	svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{}, nil, nil) // no cache: the deletion is seen at once
	_, err := svc.Evaluate(ctx, []evaluator.Message{msg("1", 0, 25)})
	require.NoError(t, err)
	store.SetConfigs("room-1", nil)
	for range 2 { // the batch, then a replay of it
		out, err := svc.Evaluate(ctx, []evaluator.Message{msg("2", 1, 20)})
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	assert.Equal(t, []string{"OPEN WARNING", "RESOLVE WARNING"}, pub.sent)
	states, err := store.LoadStates(ctx, []string{"room-1"})
	require.NoError(t, err)
	assert.Empty(t, states["room-1"].Alarm.Rules, "the deleted config's state is dropped")
}

// keptQuarantine keeps what it is given.
type keptQuarantine struct {
	mu   sync.Mutex
	recs []lake.Rejected
}

func (q *keptQuarantine) Put(_ context.Context, _ string, recs []lake.Rejected) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.recs = append(q.recs, recs...)
	return nil
}

// A rejected message names the hour bronze files it under, for the rejections index, only when
// bronze has it there: not when it cannot be one line (bronze leaves it out) and not without an
// event_time bronze can read (errors/).
func TestRejectedMessagesNameBronzesHour(t *testing.T) {
	hour := t0
	for _, tc := range []struct {
		name string
		data string
		want time.Time
	}{
		{"out of range", `{"device_id":"room-1","event_time":"2026-03-01T08:10:00Z","temperature":151}`, hour},
		{"a device's newline after it", "{\"device_id\":\"room-1\",\"event_time\":\"2026-03-01T08:10:00Z\",\"temperature\":151}\r\n", hour},
		{"pretty-printed: not a line", "{\"device_id\":\"room-1\",\n\"event_time\":\"2026-03-01T08:10:00Z\",\"temperature\":21}", time.Time{}},
		{"no time", `{"device_id":"room-1","temperature":21}`, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &keptQuarantine{}
			svc := evaluator.New(memstore.New(aliceConfig, nil), &flakyPublisher{}, q, evaluator.DefaultConfig, nil, nil)
			out, err := svc.Evaluate(context.Background(), []evaluator.Message{{ID: "1", TopicDevice: "room-1", Arrival: t0.Add(time.Hour), Data: []byte(tc.data)}})
			require.NoError(t, err)
			require.Empty(t, out.Retry)
			require.Len(t, q.recs, 1)
			var got time.Time
			if len(q.recs[0].BronzeHours) > 0 {
				got = q.recs[0].BronzeHours[0]
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// agedStore is a store whose location and fleet rows were read `age` before each LoadDevice, as
// a store that caches them (dynamostore) answers.
type agedStore struct {
	*memstore.Store
	now func() time.Time
	age time.Duration
}

func (s agedStore) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	d, err := s.Store.LoadDevice(ctx, id)
	if s.age > 0 {
		d.RowsAsOf = s.now().Add(-s.age)
	}
	return d, err
}

// TestCacheAgesFromWhenTheScopesWereRead: a device's cached rules expire CacheTTL after its
// location's and the fleet's rows were read (Device.RowsAsOf), not after the device's own read,
// so that an edit of those rows reaches it within the bound.
func TestCacheAgesFromWhenTheScopesWereRead(t *testing.T) {
	for _, c := range []struct {
		age    time.Duration
		reload bool
	}{{0, false}, {50 * time.Second, true}} {
		now := t0.Add(time.Hour)
		clock := func() time.Time { return now }
		store := agedStore{memstore.New(aliceConfig, nil), clock, c.age}
		svc := evaluator.New(store, &flakyPublisher{}, failingQuarantine{}, evaluator.Config{CacheTTL: time.Minute, Now: clock}, nil, nil)
		_, err := svc.Evaluate(context.Background(), []evaluator.Message{msg("1", 0, 20)})
		require.NoError(t, err)
		now = now.Add(15 * time.Second)
		out, err := svc.Evaluate(context.Background(), []evaluator.Message{msg("2", 1, 20)})
		require.NoError(t, err)
		if c.reload {
			assert.Equal(t, 1, out.Stats.DevicesLoaded, "rows read 50 s before the first batch: stale 65 s later")
		} else {
			assert.Equal(t, 1, out.Stats.DevicesCached, "read with the device: fresh 15 s later")
		}
	}
}

// TestNothingKeptAliasesTheMessages: the decoder's readings refer to the messages' bytes
// (Alias); what the service keeps past a batch (its cache's keys, the alerts it published) must
// be copies. The first batch's bytes are overwritten after it: the next batch still finds
// room-1 in the cache, and the alerts still name room-1.
func TestNothingKeptAliasesTheMessages(t *testing.T) {
	pub := &keepingPublisher{}
	svc := evaluator.New(memstore.New(aliceConfig, nil), pub, failingQuarantine{}, evaluator.DefaultConfig, nil, nil)
	first := []evaluator.Message{msg("1", 0, 25)}
	_, err := svc.Evaluate(context.Background(), first)
	require.NoError(t, err)
	for i := range first[0].Data { // the transport reuses its buffer
		first[0].Data[i] = 'x'
	}
	out, err := svc.Evaluate(context.Background(), []evaluator.Message{msg("2", 1, 27)})
	require.NoError(t, err)
	assert.Equal(t, 1, out.Stats.DevicesCached, "the cache's key is a copy of the device id")
	require.Len(t, pub.alerts, 2)
	for _, a := range pub.alerts {
		assert.Equal(t, "room-1", a.DeviceID)
	}
}

// keepingPublisher keeps every alert it is given.
type keepingPublisher struct{ alerts []alert.Alert }

func (p *keepingPublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	for _, n := range ns {
		p.alerts = append(p.alerts, n.Alert)
	}
	return make([]error, len(ns))
}

// noticePublisher keeps the notices it is given.
type noticePublisher struct{ ns []evaluator.Notice }

func (p *noticePublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.ns = append(p.ns, ns...)
	return make([]error, len(ns))
}

// TestNoticesNameTheirEpisode: every notice of an episode carries its start (the OPEN's window
// start), the ESCALATE's included, from its OPEN in the same batch or in an earlier one (the
// state's open episode), with no link signer; the next episode has its own start.
func TestNoticesNameTheirEpisode(t *testing.T) {
	ctx := context.Background()
	pub := &noticePublisher{}
	svc := evaluator.New(memstore.New(aliceConfig, nil), pub, failingQuarantine{}, evaluator.DefaultConfig, nil, nil)
	batches := [][]evaluator.Message{
		{msg("1", 0, 25), msg("2", 1, 27), msg("3", 2, 23)}, // OPEN, ESCALATE, RESOLVE in one batch
		{msg("4", 3, 25)}, // OPEN of the next episode
		{msg("5", 4, 27)}, // its ESCALATE, a batch later
		{msg("6", 5, 23)}, // RESOLVE
	}
	for _, b := range batches {
		out, err := svc.Evaluate(ctx, b)
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}
	var got []string
	for _, n := range pub.ns {
		got = append(got, fmt.Sprintf("%s %s", n.Alert.Kind, time.UnixMilli(n.EpisodeStartMs).UTC().Format("15:04")))
	}
	assert.Equal(t, []string{"OPEN 08:00", "ESCALATE 08:00", "RESOLVE 08:00", "OPEN 08:03", "ESCALATE 08:03", "RESOLVE 08:03"}, got)
}

// failingLoads is a store whose LoadDevice and SaveState fail for the devices in fail.
type failingLoads struct {
	*memstore.Store
	load, save map[string]bool
}

func (s failingLoads) LoadDevice(ctx context.Context, id string) (evaluator.Device, error) {
	if s.load[id] {
		return evaluator.Device{}, errors.New("injected load failure")
	}
	return s.Store.LoadDevice(ctx, id)
}

func (s failingLoads) SaveState(ctx context.Context, id string, st evaluator.State) (int64, error) {
	if s.save[id] {
		return 0, errors.New("injected save failure")
	}
	return s.Store.SaveState(ctx, id, st)
}

// TestOneLoadAtATimeIsTheSame: with LoadConcurrency 1 the loads and saves run one after the
// other on the caller's goroutine; a batch gives the same outcome as with 16 at once, a failed
// load or save retrying its device alone.
func TestOneLoadAtATimeIsTheSame(t *testing.T) {
	msgs, _ := evaltest.Stream(20, 30, t0)
	outcome := func(concurrency int) (evaluator.Outcome, []string) {
		store := failingLoads{memstore.New(evaltest.Configs(20), nil), map[string]bool{"dev-003": true}, map[string]bool{"dev-011": true}}
		pub := &keepingPublisher{}
		svc := evaluator.New(store, pub, failingQuarantine{}, evaluator.Config{LoadConcurrency: concurrency}, nil, nil)
		out, err := svc.Evaluate(context.Background(), msgs)
		require.NoError(t, err)
		var ids []string
		for _, a := range pub.alerts {
			ids = append(ids, a.AlertID)
		}
		slices.Sort(ids)
		out.Stats.Duration = 0
		return out, ids
	}
	one, oneIDs := outcome(1)
	many, manyIDs := outcome(16)
	assert.Len(t, one.Retry, 2, "the device whose load failed and the one whose save failed")
	assert.Equal(t, 2, one.Stats.FailedDevices)
	assert.NotEmpty(t, oneIDs)
	slices.Sort(one.Retry)
	slices.Sort(many.Retry)
	assert.Equal(t, many, one)
	assert.Equal(t, manyIDs, oneIDs)
}
