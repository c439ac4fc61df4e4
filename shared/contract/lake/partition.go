package lake

import (
	_ "embed"
	"strings"
)

//go:embed partition.jq
var partitionJQ string

// PartitionQuery returns the Firehose (JQ 1.6) expression that puts a record in the dt=/hour=
// partition of the UTC hour of its field (event_time for bronze, alert_time for alerts). Comments
// are dropped: Firehose takes the expression on one line.
func PartitionQuery(field string) string {
	var lines []string
	for _, l := range strings.Split(partitionJQ, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			lines = append(lines, t)
		}
	}
	return strings.ReplaceAll(strings.Join(lines, " "), ".FIELD", "."+field)
}
