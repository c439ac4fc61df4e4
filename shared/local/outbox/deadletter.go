package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/iotwatch/iotwatch/shared/local/durable"
	"github.com/iotwatch/iotwatch/shared/service/notify"
)

// DeadLetters keeps what notify gave up on as JSON files in Dir (DIR/notify-failed/), one a
// failed delivery, named by when, the alert and the channel:
// 20261207T004512123Z-<alert id>-<channel id>.json (UTC, to the millisecond). The file holds notify.Failed (the channel's
// ID and redacted target, never its secret) and the reason.
type DeadLetters struct{ Dir string }

var _ notify.DeadLetter = (*DeadLetters)(nil)

// Letter is a dead letter's file.
type Letter struct {
	notify.Failed
	Reason string `json:"reason"`
}

// Put implements notify.DeadLetter: the file is durable when it returns nil.
func (d *DeadLetters) Put(_ context.Context, item notify.Failed, reason string) error {
	b, err := json.MarshalIndent(Letter{Failed: item, Reason: reason}, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the dead letter of alert %s: %w", item.Alert.AlertID, err)
	}
	if err := durable.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("writing the dead letter of alert %s: %w", item.Alert.AlertID, err)
	}
	name := fmt.Sprintf("%s-%s-%s.json", strings.ReplaceAll(item.At.UTC().Format("20060102T150405.000Z"), ".", ""),
		safeName(item.Alert.AlertID), safeName(item.ChannelID))
	if err := durable.WriteFile(filepath.Join(d.Dir, name), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the dead letter of alert %s: %w", item.Alert.AlertID, err)
	}
	return nil
}

// safeName keeps letters, digits, '-' and '_' of s, for a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
