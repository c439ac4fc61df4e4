package lake

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
)

// TestAlertsTableIsTheAlert: the alerts table has a column for every field of the alert JSON, in
// its order (a field added to the alert and not to the table would be invisible to SQL).
func TestAlertsTableIsTheAlert(t *testing.T) {
	a := alert.Alert{AlertID: "x", Kind: alert.Open, AlertTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Rule: alert.TemperatureHigh,
		Severity: alert.Warning, Metric: "temperature", ObservedValue: alert.Num(1), ThresholdValue: alert.Num(1), ConfigVersion: 1, Suppressed: alert.Snoozed, Via: "link"}
	b, err := json.Marshal(a)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	_, err = dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	var cols []string
	for _, c := range AlertsTable.Columns {
		cols = append(cols, c.Name)
	}
	assert.Equal(t, keys, cols)
}
