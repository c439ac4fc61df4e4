package evaluator

import (
	"context"
	"slices"
	"sync"
)

// deviceLocks serializes, within one Service, the work on a device's state from its read to its
// write: a batch of readings (Evaluate) and the silence check (CheckSilence) both read a device's
// state, publish the alerts it raises and write it conditionally on the version they read. Left
// to race, one of them publishes and then loses the write (ErrConflict), and its retry publishes
// the same alerts again: a repeat with no crash. Held, the second waits for the first's write and
// reads what it wrote, so in one process (iotwatch run) an alert repeats only after a crash.
// Between processes (the evaluate and silence functions on AWS) the conditional write still
// decides, and a conflict is the first case of the package doc.
type deviceLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when its device is let go
}

// lock takes the devices' locks, in sorted order so that two callers holding several never wait
// for each other in a cycle; it returns the release, or the context's error (holding none).
func (l *deviceLocks) lock(ctx context.Context, ids []string) (func(), error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	taken := make([]string, 0, len(ids))
	release := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, id := range taken {
			close(l.held[id])
			delete(l.held, id)
		}
	}
	for _, id := range ids {
		for {
			l.mu.Lock()
			if l.held == nil {
				l.held = map[string]chan struct{}{}
			}
			busy, ok := l.held[id]
			if !ok {
				l.held[id] = make(chan struct{})
				l.mu.Unlock()
				taken = append(taken, id)
				break
			}
			l.mu.Unlock()
			select {
			case <-busy:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}
