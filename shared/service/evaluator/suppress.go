package evaluator

import (
	"time"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// suppress marks the notices that are not to be sent to their user: those of a snooze the
// device's state holds (DESIGN.md, "Acknowledge and snooze"). Every notice is still published
// (the lake keeps it, with its reason), and its id is unchanged: a user's subscription takes only
// the alerts that are not suppressed.
func suppress(notices []Notice, dev *Device) {
	st := &dev.State.Alarm
	if len(st.Snoozes) == 0 {
		return
	}
	for i := range notices {
		a := &notices[i].Alert
		if st.Snoozed(a.UserID, a.Rule, a.AlertTime) {
			a.Suppressed = alert.Snoozed
		}
	}
	if st.HasLast {
		st.DropExpiredSnoozes(timeOf(st.Last)) // ended by the device's own clock
	}
}

func timeOf(unixNano int64) time.Time { return time.Unix(0, unixNano).UTC() }
