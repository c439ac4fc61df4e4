// Package fnenv is the contract between the stack (infra/) and its functions (functions/): the
// names of the environment variables the stack sets and the functions read, and how a number or
// a duration of them is read (Int, Duration). Their default values are the services' own
// (evaluator.DefaultConfig, aggregate.DefaultConfig), which infra formats and the services'
// ConfigFromEnv read back.
package fnenv

// The evaluate function's environment (the silence function reads TableName, AlertsTopicARN and
// LoadConcurrency too).
const (
	TableName       = "TABLE_NAME"       // the DynamoDB table (thresholds, devices, alarm state); required
	AlertsTopicARN  = "ALERTS_TOPIC_ARN" // the SNS alerts topic; required
	LakeBucket      = "LAKE_BUCKET"      // the lake bucket, for quarantine/; required
	CacheTTL        = "CACHE_TTL"        // how long thresholds and metadata are reused, a Go duration
	LoadConcurrency = "LOAD_CONCURRENCY" // parallel DynamoDB calls, 1 to 256
)

// The aggregate function's environment.
const (
	AthenaWorkgroup = "ATHENA_WORKGROUP" // required
	GlueDatabase    = "GLUE_DATABASE"    // required
	LateHours       = "LATE_HOURS"       // hours before the last one each run re-aggregates, 0 to 48
	IntervalSeconds = "INTERVAL_SECONDS" // the devices' nominal reading interval, 1 to 3600
)

// The one-click links (the links function; evaluate and silence put links in their alerts when
// both are set).
const (
	LinkSecretARN = "LINK_SECRET_ARN" // the Secrets Manager secret the links are signed with
	LinkBaseURL   = "LINK_BASE_URL"   // the links function's URL
)

// The bronze function's environment.
const (
	BronzeStream = "BRONZE_STREAM" // the bronze Firehose stream (Direct PUT); required
)

// The notify function's environment (TableName too).
const (
	ChannelsKeyARN      = "CHANNELS_KEY_ARN"       // the KMS key the channels' targets are sealed with; required
	NotifyDeadLetterURL = "NOTIFY_DEAD_LETTER_URL" // the SQS queue of undelivered messages; required
	PagerDutyURL        = "PAGERDUTY_URL"          // the PagerDuty Events API v2 endpoint (default PagerDuty's)
)

// DefaultPagerDutyURL is PagerDuty's Events API v2 endpoint, where PagerDuty channels' events go
// unless the stack (-c pagerdutyUrl) or the run (--pagerduty-url) says otherwise.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// NotifyTimeoutSeconds is the notify function's timeout: the 170 s of its worst delivery (5 tries
// of at most 10 s, 4 waits of at most 30 s: notifylambda.MaxDelay) and 10 s for reading the
// channels (a Query and a KMS Decrypt a channel) and writing dead letters. The stack sets it; the
// function's delivery is bounded by it.
const NotifyTimeoutSeconds = 180
