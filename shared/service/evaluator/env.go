package evaluator

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/iotwatch/iotwatch/shared/aws/awsclient"
	"github.com/iotwatch/iotwatch/shared/aws/emf"
)

// ConfigFromEnv reads the handler's settings from the environment (getenv is os.Getenv):
// CACHE_TTL (a Go duration, default 60s, 0 disables), LOAD_CONCURRENCY (default 16).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig
	if v := getenv("CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("CACHE_TTL=%q: want a duration such as 60s", v)
		}
		cfg.CacheTTL = d
	}
	if v := getenv("LOAD_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			return cfg, fmt.Errorf("LOAD_CONCURRENCY=%q: want a whole number from 1 to 256", v)
		}
		cfg.LoadConcurrency = n
	}
	return cfg, nil
}

// Namespace is the CloudWatch namespace of the pipeline's metrics.
const Namespace = "iotwatch"

// WriteMetrics writes a batch's figures as EMF lines: totals, rejections by reason, alerts by
// kind and severity, and the AWS calls made (calls maps "Service.Operation" to attempts).
func WriteMetrics(w io.Writer, s Stats, calls map[string]int, now time.Time) error {
	l := emf.New(Namespace)
	fn := l.With("Function", "evaluate")
	fn.Put("Records", emf.Count, float64(s.Records)).
		Put("Readings", emf.Count, float64(s.Readings)).
		Put("Late", emf.Count, float64(s.Late)).
		Put("Duplicates", emf.Count, float64(s.Duplicates)).
		Put("FailedRecords", emf.Count, float64(s.FailedRecords)).
		Put("FailedDevices", emf.Count, float64(s.FailedDevices)).
		Put("StateWrites", emf.Count, float64(s.StateWrites)).
		Put("StateConflicts", emf.Count, float64(s.StateConflicts)).
		Put("PublishedUncommitted", emf.Count, float64(s.PublishedUncommitted)).
		Put("DevicesLoaded", emf.Count, float64(s.DevicesLoaded)).
		Put("DevicesCached", emf.Count, float64(s.DevicesCached)).
		Put("DynamoDBCalls", emf.Count, float64(awsclient.Service(calls, "DynamoDB"))).
		Put("SNSCalls", emf.Count, float64(awsclient.Service(calls, "SNS"))).
		Put("S3Calls", emf.Count, float64(awsclient.Service(calls, "S3"))).
		Put("BatchDuration", emf.Milliseconds, float64(s.Duration.Microseconds())/1000)
	rejected := 0
	for reason, n := range s.Rejected {
		l.With("Function", "evaluate", "Reason", string(reason)).Put("Rejected", emf.Count, float64(n))
		rejected += n
	}
	fn.Put("Rejected", emf.Count, float64(rejected))
	alerts := 0
	for ks, n := range s.Alerts {
		var kind, sev string
		fmt.Sscan(ks, &kind, &sev)
		l.With("Function", "evaluate", "Kind", kind, "Severity", sev).Put("Alerts", emf.Count, float64(n))
		alerts += n
	}
	fn.Put("Alerts", emf.Count, float64(alerts))
	return l.Write(w, now)
}
