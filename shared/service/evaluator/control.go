package evaluator

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotwatch/iotwatch/shared/domain/alarm"
)

// MaxActAttempts bounds how often Act reads and writes again when a batch wrote the device's
// state between its read and its write.
const MaxActAttempts = 5

// Act applies a person's action (acknowledge, snooze, unsnooze) to a device's alarm state: it
// reads the state, lets action change it (action reports whether it did), and writes it
// conditionally on the version it read, again from the read when a batch of readings or the
// silence check wrote it meanwhile. The evaluation then honours it with no request of its own:
// acknowledgements and snoozes live in the state it reads anyway. The due time the stores index
// is recomputed (an acknowledged silence has no reminder to come).
func Act(ctx context.Context, store Store, id string, action func(*alarm.DeviceState) (bool, error)) (bool, error) {
	for attempt := 1; ; attempt++ {
		dev, err := store.LoadDevice(ctx, id)
		if err != nil {
			return false, fmt.Errorf("reading the state of %s: %w", id, err)
		}
		changed, err := action(&dev.State.Alarm)
		if err != nil || !changed {
			return false, err
		}
		cat, err := store.Catalog(ctx)
		if err != nil {
			return false, fmt.Errorf("reading the metrics catalog: %w", err)
		}
		rules := dev.InForce()
		dev.State.Due = indexedDue(alarm.NewRules(&dev.State.Alarm, id, rules, cat), rules)
		_, err = store.SaveState(ctx, id, dev.State)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == MaxActAttempts {
			return false, fmt.Errorf("writing the state of %s: %w", id, err)
		}
	}
}
