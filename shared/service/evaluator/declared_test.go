package evaluator_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
	"github.com/iotwatch/iotwatch/shared/testsupport/evaltest"
	"github.com/iotwatch/iotwatch/shared/testsupport/memstore"
)

// keepAll keeps every notice it is given.
type keepAll struct{ notices []evaluator.Notice }

func (p *keepAll) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.notices = append(p.notices, ns...)
	return make([]error, len(ns))
}

// copyMetric gives each message a declared metric to carrying the value of its metric from.
func copyMetric(msgs []evaluator.Message, from, to string) []evaluator.Message {
	re := regexp.MustCompile(`"` + from + `":([-0-9.eE+]+)`)
	out := make([]evaluator.Message, len(msgs))
	for i, m := range msgs {
		v := re.FindSubmatch(m.Data)[1]
		data := strings.TrimSuffix(string(m.Data), "}") + `,"` + to + `":` + string(v) + "}"
		m.Data = []byte(data)
		out[i] = m
	}
	return out
}

// TestADeclaredMetricIsJudgedAsABuiltIn: a declared metric that carries a built-in's values,
// under the same rules (high, low, anomaly, stuck, each with reminders), raises the same alerts
// at the same times with the same figures as the built-in, under its own rule names and with
// its unit in the texts. The declared anomaly rule takes its catalog floor.
func TestADeclaredMetricIsJudgedAsABuiltIn(t *testing.T) {
	msgs, _ := evaltest.Stream(12, 240, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	msgs = copyMetric(copyMetric(msgs, "temperature", "supply_temp"), "co2", "co2_copy")
	cat, err := reading.NewCatalog([]reading.Declared{
		{Name: "supply_temp", Unit: "°C", Min: -50, Max: 150}, // floor: the default 0.1, as temperature's
		{Name: "co2_copy", Unit: "ppm", Min: 0, Max: 100000, Floor: 1},
	})
	require.NoError(t, err)
	fleet := rule.Scope{Kind: rule.Fleet}
	var rows []rule.Row
	for _, pair := range [][2]string{{"temperature", "supply_temp"}, {"co2", "co2_copy"}} {
		for _, m := range pair {
			rows = append(rows,
				rule.Row{UserID: "ops", Scope: fleet, Metric: m, Kind: rule.High, Warning: threshold.Of(23.5), Violation: threshold.Of(25), Hysteresis: threshold.Of(0.3), SustainSeconds: 120, RemindSeconds: 900},
				rule.Row{UserID: "ops", Scope: fleet, Metric: m, Kind: rule.Low, Warning: threshold.Of(19), Violation: threshold.Of(18), RemindSeconds: 900},
				rule.Row{UserID: "ops", Scope: fleet, Metric: m, Kind: rule.Anomaly, Warning: threshold.Of(1.5), RemindSeconds: 900},
				rule.Row{UserID: "ops", Scope: fleet, Metric: m, Kind: rule.Stuck, Warning: threshold.Of(1800), RemindSeconds: 900})
		}
	}
	store := memstore.New(nil, nil)
	store.SetCatalog(cat)
	store.SetRules(t, rows)
	pub := &keepAll{}
	svc := evaluator.New(store, pub, memQuarantine{}, evaluator.Config{}, nil, nil)
	for start := 0; start < len(msgs); start += 500 { // batches, so that state is saved and read back
		out, err := svc.Evaluate(context.Background(), msgs[start:min(start+500, len(msgs))])
		require.NoError(t, err)
		require.Empty(t, out.Retry)
	}

	// An alert's figures apart from its rule's name, metric and id.
	type figures struct {
		device, kind, severity, rule string
		at                           time.Time
		start                        int64
		observed, threshold          alert.Number
	}
	by := map[string][]figures{}
	kinds := map[string]int{}
	for _, n := range pub.notices {
		a := n.Alert
		_, kind, ok := rule.ParseName(a.Rule)
		require.True(t, ok, a.Rule)
		by[a.Metric] = append(by[a.Metric], figures{a.DeviceID, string(a.Kind), string(a.Severity), kind.String(), a.AlertTime, a.WindowStartMs, a.ObservedValue, a.ThresholdValue})
		if a.Metric == "supply_temp" || a.Metric == "co2_copy" {
			kinds[kind.String()+" "+string(a.Kind)]++
			email := snsText(n)
			assert.Contains(t, email, map[string]string{"supply_temp": "°C", "co2_copy": " ppm"}[a.Metric], "the unit in %s's texts", a.Rule)
		}
	}
	require.NotEmpty(t, by["temperature"])
	assert.Equal(t, by["temperature"], by["supply_temp"], "the declared metric's alerts are temperature's")
	require.NotEmpty(t, by["co2"])
	assert.Equal(t, by["co2"], by["co2_copy"], "the declared metric's alerts are co2's")
	for _, k := range []string{"high OPEN", "high ESCALATE", "high RESOLVE", "low OPEN", "anomaly OPEN", "stuck OPEN", "stuck REMIND"} {
		assert.Positive(t, kinds[k], "declared metrics raised no %s: %v", k, kinds)
	}
}

// snsText is the email text of a notice, as the publishers render it.
func snsText(n evaluator.Notice) string { return n.Presentation().Email(&n.Alert, n.Device) }

// batched regroups single messages into batched ones of up to n readings of one device, in the
// singles' order per device; each batch takes the id of its first single.
func batched(msgs []evaluator.Message, n int) []evaluator.Message {
	var out []evaluator.Message
	open := map[string]int{} // device → index in out of its batch being filled
	count := map[string]int{}
	for _, m := range msgs {
		dev := m.TopicDevice
		prefix := `{"device_id":"` + dev + `",`
		elem := "{" + strings.TrimPrefix(string(m.Data), prefix)
		if i, ok := open[dev]; ok && count[dev] < n {
			out[i].Data = append(out[i].Data[:len(out[i].Data)-2], []byte(","+elem+"]}")...)
			out[i].Arrival = m.Arrival // a device sends its batch after its last reading
			count[dev]++
			continue
		}
		m.Data = []byte(prefix + `"readings":[` + elem + "]}")
		open[dev], count[dev] = len(out), 1
		out = append(out, m)
	}
	return out
}

// TestBatchedMessagesAreTheirReadings: the same readings sent ten to a message raise the same
// alerts, ids included, as sent one by one; a bad element is quarantined alone with its index
// and the others are applied.
func TestBatchedMessagesAreTheirReadings(t *testing.T) {
	singles, _ := evaltest.Stream(8, 120, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	run := func(msgs []evaluator.Message, chunk int) ([]alert.Alert, evaluator.Stats, []lake.Rejected) {
		store := memstore.New(evaltest.Configs(8), nil)
		store.SetRules(t, everyMetricRows())
		pub, q := &keepAll{}, &keptQuarantine{}
		svc := evaluator.New(store, pub, q, evaluator.Config{}, nil, nil)
		var st evaluator.Stats
		for start := 0; start < len(msgs); start += chunk {
			out, err := svc.Evaluate(context.Background(), msgs[start:min(start+chunk, len(msgs))])
			require.NoError(t, err)
			require.Empty(t, out.Retry)
			st.Readings += out.Stats.Readings
		}
		var as []alert.Alert
		for _, n := range pub.notices {
			as = append(as, n.Alert)
		}
		return as, st, q.recs
	}
	one, st1, _ := run(singles, 400)
	ten, st10, _ := run(batched(singles, 10), 40)
	require.NotEmpty(t, one)
	assert.Equal(t, st1.Readings, st10.Readings)
	// Alerts of different devices may interleave otherwise (a batch holds one device's readings):
	// each device's, in order, are the same.
	byDevice := func(as []alert.Alert) []alert.Alert {
		out := slices.Clone(as)
		slices.SortStableFunc(out, func(a, b alert.Alert) int { return strings.Compare(a.DeviceID, b.DeviceID) })
		return out
	}
	assert.Equal(t, byDevice(one), byDevice(ten), "a batch of ten is its ten readings, in order")

	// One bad element among good ones.
	b := batched(singles[:8*5], 5)[0]                                                      // dev-000's five readings
	b.Data = []byte(strings.Replace(string(b.Data), `"humidity":30`, `"humidity":300`, 1)) // the first element out of range
	_, st, quarantined := run([]evaluator.Message{b}, 1)
	assert.Equal(t, 4, st.Readings, "the other four applied")
	require.Len(t, quarantined, 1)
	require.NotNil(t, quarantined[0].Element)
	assert.Equal(t, 0, *quarantined[0].Element)
	assert.Equal(t, string(reading.OutOfRange), quarantined[0].Reason)
	assert.Equal(t, b.Data, quarantined[0].DataBase64, "the message's bytes, whole")
}

// lockedPublisher keeps the alerts published, from any goroutine.
type lockedPublisher struct {
	mu sync.Mutex
	a  []alert.Alert
}

func (p *lockedPublisher) Publish(_ context.Context, ns []evaluator.Notice) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range ns {
		p.a = append(p.a, n.Alert)
	}
	return make([]error, len(ns))
}

// TestServicesAtOnceRaiseWhatEachRaisesAlone: services evaluating at once share the pooled
// batches (their readings, the one alarm.Device reset from device to device, the room lent for
// declared values); each raises, batch after batch, exactly what it raises alone, with or
// without a catalog, one load at a time or four. (Written by a review of the change.)
func TestServicesAtOnceRaiseWhatEachRaisesAlone(t *testing.T) {
	msgs, cat := declaredBatch(t)
	msgs = msgs[:3000]
	rows := onDeclaredRows()
	run := func(conc int, catalog *reading.Catalog) []string {
		store := memstore.New(nil, nil)
		store.SetRules(nil, rows)
		store.SetCatalog(catalog)
		pub := &lockedPublisher{}
		svc := evaluator.New(store, pub, memQuarantine{}, evaluator.Config{LoadConcurrency: conc}, nil, nil)
		for i := 0; i < len(msgs); i += 250 { // batches of 250 records
			out, err := svc.Evaluate(context.Background(), msgs[i:min(i+250, len(msgs))])
			if err != nil || len(out.Retry) != 0 {
				t.Errorf("batch %d: %v %v", i, err, out.Retry)
			}
		}
		var ids []string
		for _, a := range pub.a {
			ids = append(ids, fmt.Sprintf("%s %s %s %s %s", a.AlertID, a.Kind, a.DeviceID, a.Rule, a.ObservedValue))
		}
		return ids
	}
	want := map[int][]string{}
	cats := []*reading.Catalog{cat, nil}
	for i, c := range cats {
		want[i] = run(1, c)
		if len(want[i]) == 0 {
			t.Fatal("no alerts: the test tells nothing")
		}
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := run([]int{1, 4}[g%2], cats[g%len(cats)])
			if !slices.Equal(got, want[g%len(cats)]) {
				t.Errorf("goroutine %d: %d alerts, alone %d", g, len(got), len(want[g%len(cats)]))
			}
		}()
	}
	wg.Wait()
}
