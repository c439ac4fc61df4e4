package storetest

import "github.com/iotwatch/iotwatch/shared/domain/alarm"

// FullState is a device state with every stored field set (one rule acknowledged, one open on
// silence, one with only its last reading, the anomaly statistics, two snoozes, a used link):
// each store's golden file holds it as that store writes it today.
func FullState() alarm.DeviceState {
	st := alarm.DeviceState{Last: 1422886740000000000, HasLast: true, Recent: []string{"m:room-1-000140", "t:1422886680000000000"},
		Rules: map[string]*alarm.RuleState{
			"temperature_high:alice":   {Flags: 3 | 1<<3, LastAt: 1422886740000000000, WarnRun: 1422886620000000000, Open: alarm.Warning, OpenStart: 1422886620000000000, LastNotice: 1422886620000000000, OpenID: "1f0d8a1f8c03cb19", NoticeID: "985ddca11ccef91d"},
			"light_no_occupancy:carol": {Flags: 1, LastAt: 1422886740000000000},
			"device_silent:bob":        {Open: alarm.Warning, OpenStart: 1422885840000000000, LastNotice: 1422886740000000000},
		},
		Temp:      alarm.TempStats{N: 30, Mean: 21.25, Var: 0.0625, StuckValue: 21.5, StuckStart: 1422886140000000000, StuckLast: 1422886740000000000, HasStuck: true},
		Snoozes:   []alarm.Snooze{{User: "alice", Until: 1422890340000000000}, {User: "bob", Rule: "device_silent", Until: 1422893940000000000, Token: "abcdefghijklmnop"}},
		UsedLinks: []alarm.UsedLink{{Code: "abcdefghijklmnop", Until: 1423526400000000000}}}
	return st
}

// A Format is one stored format of the alarm state that a released version wrote: each store
// keeps, under testdata/formats/, a fixture named Name (plus the store's extension) holding the
// bytes that version wrote for FullState as far as it knew it, and State is what that fixture must
// decode to. The fixtures are copies of the golden files of their day and are never regenerated:
// what a released version wrote must stay readable.
type Format struct {
	Name  string
	State alarm.DeviceState
}

// Formats are the stored formats, oldest first. Each version added to the one before.
func Formats() []Format {
	v1 := FullState() // the first edition: the temperature and light rules, the duplicate ring
	v1.Rules = map[string]*alarm.RuleState{
		"temperature_high:alice":   {Flags: 3, LastAt: 1422886740000000000, WarnRun: 1422886620000000000, Open: alarm.Warning, OpenStart: 1422886620000000000},
		"light_no_occupancy:carol": {Flags: 1, LastAt: 1422886740000000000},
	}
	v1.Temp, v1.Snoozes, v1.UsedLinks = alarm.TempStats{}, nil, nil

	v2 := FullState() // + device_silent, reminders (LastNotice), the anomaly and stuck statistics
	for _, rs := range v2.Rules {
		rs.Flags &^= 1 << 3
		rs.OpenID, rs.NoticeID = "", ""
	}
	v2.Snoozes, v2.UsedLinks = nil, nil

	v3 := FullState() // + snoozes and the acknowledged flag
	for _, rs := range v3.Rules {
		rs.OpenID, rs.NoticeID = "", ""
	}
	v3.Snoozes = []alarm.Snooze{{User: "alice", Until: 1422890340000000000}, {User: "bob", Rule: "device_silent", Until: 1422893940000000000}}
	v3.UsedLinks = nil

	v4 := FullState() // + one-click links: a snooze's token, the used links
	for _, rs := range v4.Rules {
		rs.OpenID, rs.NoticeID = "", ""
	}

	return []Format{
		{"v1-first-edition", v1},
		{"v2-anomaly-stuck", v2},
		{"v3-snooze-ack", v3},
		{"v4-one-click-links", v4},
		{"v5-alert-ids", FullState()}, // + the ids of an episode's OPEN and last notice (alerts ack --alert)
	}
}
