package rule

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/iotwatch/iotwatch/shared/domain/device"
)

// TestSortInForceIsAStableSort: the in-place permutation gives what a stable sort by (user in
// order of first appearance, kind, metric) gives, on random sets.
func TestSortInForceIsAStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	users, metrics := []string{"ops", "alice", "bob"}, []string{"co2", "humidity", "temperature"}
	for range 500 {
		n := rng.IntN(12)
		rules := make([]InForce, n)
		for i := range rules {
			rules[i] = InForce{Row: Row{UserID: users[rng.IntN(3)], Metric: metrics[rng.IntN(3)], Kind: Kind(rng.IntN(6)), Version: int64(i)}}
		}
		want := append([]InForce(nil), rules...)
		first := map[string]int{}
		for _, r := range want {
			if _, ok := first[r.UserID]; !ok {
				first[r.UserID] = len(first)
			}
		}
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if first[a.UserID] != first[b.UserID] {
				return first[a.UserID] < first[b.UserID]
			}
			if a.Kind != b.Kind {
				return a.Kind < b.Kind
			}
			return a.Metric < b.Metric
		})
		sortInForce(rules)
		for i := range rules {
			if rules[i].Version != want[i].Version {
				t.Fatalf("at %d: row %d; a stable sort puts row %d", i, rules[i].Version, want[i].Version)
			}
		}
	}
}

// TestResolveManyRules: past the rules Resolve finds by a scan, the map it keeps finds the same
// winners (here 300 users' fleet rows, each beaten by a device row).
func TestResolveManyRules(t *testing.T) {
	var rows []Row
	for u := range 300 {
		user := "user-" + string(rune('a'+u%26)) + string(rune('a'+u/26))
		rows = append(rows, Row{UserID: user, Scope: Scope{Kind: Fleet}, Metric: "co2", Kind: High, Version: 1})
	}
	for u := range 300 {
		user := "user-" + string(rune('a'+u%26)) + string(rune('a'+u/26))
		rows = append(rows, Row{UserID: user, Scope: Scope{Kind: Device, Name: "room-1"}, Metric: "co2", Kind: High, Version: 2})
	}
	got := Resolve(rows, device.Device{ID: "room-1"})
	if len(got) != 300 {
		t.Fatalf("%d rules in force; want 300", len(got))
	}
	for _, f := range got {
		if f.Version != 2 || len(f.Over) != 1 || f.Over[0].Version != 1 {
			t.Fatalf("%s: won by version %d over %v; want the device's row over the fleet's", f.UserID, f.Version, f.Over)
		}
	}
}
