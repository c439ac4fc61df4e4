package filestore

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
)

func randomState(rng *rand.Rand) alarm.Record {
	str := func() string {
		const chars = "abcxyz-019:_<>&\"\\é\u2028\x01"
		n := rng.IntN(6)
		b := make([]rune, n)
		for i := range b {
			b[i] = []rune(chars)[rng.IntN(len([]rune(chars)))]
		}
		return string(b)
	}
	i64 := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return -rng.Int64N(1000)
		}
		return rng.Int64()
	}
	f64 := func() float64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return rng.Float64() * 1e-8
		case 2:
			return rng.Float64() * 1e25
		case 3:
			return -rng.Float64() * 100
		}
		return math.Round(rng.Float64()*1000) / 8
	}
	f := alarm.Record{Last: i64(), HasLast: rng.IntN(2) == 0, Version: i64()}
	for range rng.IntN(3) {
		f.Recent = append(f.Recent, str())
	}
	if rng.IntN(2) == 0 {
		f.Rules = map[string]alarm.RuleRecord{}
		for range rng.IntN(4) {
			f.Rules[str()] = alarm.RuleRecord{Flags: uint8(rng.IntN(3)), LastAt: i64(), WarnRun: i64(), ViolRun: i64(), Open: uint8(rng.IntN(3)), OpenStart: i64(), Notice: i64(), OpenID: str(), NoticeID: str()}
		}
	}
	if rng.IntN(2) == 0 {
		f.Temp = &alarm.TempRecord{N: i64(), Mean: f64(), Var: f64(), StuckValue: f64(), StuckStart: i64(), StuckLast: i64(), HasStuck: rng.IntN(2) == 0}
	}
	if rng.IntN(3) == 0 {
		f.Stats = map[string]alarm.TempRecord{}
		for range rng.IntN(3) {
			f.Stats[str()] = alarm.TempRecord{N: i64(), Mean: f64(), Var: f64(), StuckValue: f64(), StuckStart: i64(), StuckLast: i64(), HasStuck: rng.IntN(2) == 0}
		}
	}
	for range rng.IntN(3) {
		f.Snoozes = append(f.Snoozes, alarm.SnoozeRecord{User: str(), Rule: str(), Until: i64(), Token: str()})
	}
	for range rng.IntN(3) {
		f.Used = append(f.Used, alarm.UsedLinkRecord{Code: str(), Until: i64()})
	}
	return f
}

// TestRecordEncodingIsEncodingJSONs: the journal's encoder writes what encoding/json writes.
func TestRecordEncodingIsEncodingJSONs(t *testing.T) {
	// A field added to these must be added to the encoder (and to randomState) too.
	for _, c := range []struct {
		v any
		n int
	}{{alarm.Record{}, 9}, {alarm.RuleRecord{}, 9}, {alarm.TempRecord{}, 7}, {alarm.SnoozeRecord{}, 4}, {alarm.UsedLinkRecord{}, 2}, {journalRecord{}, 2}} {
		require.Equal(t, c.n, reflect.TypeOf(c.v).NumField(), "%T has a field the encoder does not know", c.v)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		r := journalRecord{ID: "dev-" + string(rune('a'+i%26)), State: randomState(rng)}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got, err := appendRecord(nil, &r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "state %d", i)
	}
	_, err := appendRecord(nil, &journalRecord{ID: "x", State: alarm.Record{Temp: &alarm.TempRecord{Mean: math.NaN()}}})
	require.Error(t, err, "NaN is refused, as encoding/json refuses it")
}

func BenchmarkRecordEncoding(b *testing.B) {
	// A device's state as the benchmarks of the pipeline make it: one rule, the duplicate ring,
	// the anomaly statistics.
	states := []journalRecord{{ID: "dev-17", State: alarm.Record{Last: 1772323200000000000, HasLast: true,
		Recent: []string{"m:171", "m:172", "m:173", "m:174"}, Version: 173,
		Rules: map[string]alarm.RuleRecord{"temperature_high:alice": {Flags: 3, LastAt: 1772323200000000000, Open: 1,
			OpenStart: 1772323100000000000, Notice: 1772323100000000000, OpenID: "1f0d8a1f8c03cb19"}},
		Temp: &alarm.TempRecord{N: 173, Mean: 21.25, Var: 0.0625}}}}
	b.Run("appendRecord", func(b *testing.B) {
		var buf []byte
		for i := range b.N {
			buf, _ = appendRecord(buf[:0], &states[i%len(states)])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for i := range b.N {
			_, _ = json.Marshal(states[i%len(states)])
		}
	})
}
