package alert

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestDigest(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 3, 1, 23, m, 0, 0, time.UTC) }
	mk := func(m int, dev string, rule Rule, kind Kind, sev Severity) Alert {
		a := Alert{Kind: kind, AlertTime: at(m), UserID: "alice", DeviceID: dev, Rule: rule, Severity: sev, Metric: "temperature",
			ObservedValue: Num(24.5), ThresholdValue: Num(24), Suppressed: QuietHours}
		a.AlertID = ID(&a)
		return a
	}
	held := []Alert{
		mk(10, "room-1", TemperatureHigh, Open, Warning),
		mk(5, "room-2", SensorStuck, Open, Warning),
		mk(20, "room-1", TemperatureHigh, Resolve, Warning),
		mk(30, "room-3", TemperatureLow, Open, Warning),
	}
	end := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	d := NewDigest("alice", end, held)
	assert.Equal(t, Digest, d.Kind)
	assert.Equal(t, Num(4), d.ObservedValue)
	assert.Equal(t, at(5).UnixMilli(), d.WindowStartMs, "from the first held alert")
	assert.Equal(t, end.UnixMilli(), d.WindowEndMs)
	assert.Equal(t, d.AlertID, NewDigest("alice", end, []Alert{held[3], held[2], held[1], held[0]}).AlertID, "the same held alerts, the same id")
	assert.NotEqual(t, d.AlertID, NewDigest("alice", end, held[:3]).AlertID)

	var order []string
	for _, a := range DigestOrder(held) {
		order = append(order, a.DeviceID+" "+string(a.Kind))
	}
	assert.Equal(t, []string{"room-2 OPEN", "room-3 OPEN", "room-1 OPEN", "room-1 RESOLVE"}, order, "still-open episodes first, each group by time")

	subject, email, sms := Presentation{}.DigestTexts(&d, held, func(id string) string { return "Office (" + id + ")" })
	assert.Contains(t, subject, "4 alerts held during your quiet hours")
	assert.Contains(t, email, "The 2 episodes they leave unresolved come first")
	assert.True(t, strings.Index(email, "room-2") < strings.Index(email, "room-1"), email)
	assert.Contains(t, email, "temperature sensor stuck on Office (room-2)")
	assert.LessOrEqual(t, utf8.RuneCountInString(sms), MaxSMS)
	assert.True(t, strings.HasPrefix(sms, "iotwatch: 4 held in quiet hours, 2 unresolved: room-2"), sms)
}
