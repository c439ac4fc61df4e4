// Package table is the layout of the DynamoDB table that holds thresholds, device metadata and
// alarm state, shared by the stack that creates it (infra/), the store that reads and writes it
// (shared/aws/dynamostore) and the emulator tables of the tests.
//
// One partition per device, so that a single Query reads everything the evaluate function needs:
//
//	pk=<device_id>  sk=META                name, location
//	pk=<device_id>  sk=THRESHOLD#<user_id> user_id, device_id, temp_warning, ..., sustain_seconds
//	pk=<device_id>  sk=STATE               last, has_last, recent, rules, version
//	pk=<device_id>  sk=RULE#<user_id>#<metric>#<rule>   the device's rows of the long form
//
// The long form's rows of a location or of the fleet live in a partition of their scope, read
// once for all its devices (and cached, at most RulesCacheBound):
//
//	pk=#RULES#location:<name>  sk=RULE#<user_id>#<metric>#<rule>
//	pk=#RULES#fleet            sk=RULE#<user_id>#<metric>#<rule>
//
// A RULE item holds the row's columns as the rules file names them (user_id, scope, metric,
// rule, warning, violation, sustain_seconds, hysteresis, remind_seconds, floor: numbers where
// set) and its version. A metric or rule name never holds '#', so the sort key is unique.
package table

import "time"

// Key attribute names (both strings) and the sort keys of the items.
const (
	PK                = "pk" // partition key: the device id
	SK                = "sk" // sort key: what the item is
	SKMeta            = "META"
	SKState           = "STATE"
	SKThresholdPrefix = "THRESHOLD#" // followed by the user id
	SKRulePrefix      = "RULE#"      // followed by user id, metric and rule, '#' between
	// SKMetricPrefix, followed by the metric's name, is a declared metric of the catalog: its
	// items live in the fleet's partition, read with the fleet's rows (no request of their own).
	SKMetricPrefix = "METRIC#"
	// RulesPKPrefix, followed by the scope (location:<name> or fleet), is the partition of a
	// location's or the fleet's rows. A device id cannot start with '#'.
	RulesPKPrefix = "#RULES#"
	// FleetPK is the fleet's partition: its rows and the metrics catalog.
	FleetPK = RulesPKPrefix + "fleet"
)

// RulesCacheBound is how long the evaluate function may use a location's or the fleet's rows,
// and the metrics catalog, after reading them: an edit reaches every device within it.
const RulesCacheBound = 60 * time.Second

// People's preferences (quiet hours) live in one partition of their own: a device id cannot
// start with '#', so it never collides with a device.
//
//	pk=#USERS  sk=<user_id>  timezone, quiet_hours, quiet_min_severity, units
const UsersPK = "#USERS"

// LockPK is the partition of the aggregation's lease (shared/aws/dynamolock): the aggregate
// function may write only there.
const LockPK = "#LOCK"

// The due index: a sparse global secondary index of the STATE items that have a silence or a
// silence reminder to come, so that the silence check reads the devices that are due and never
// scans the table. The partition key spreads the devices over DueShards values (the device id's
// hash); the sort key is when the device falls due, in Unix milliseconds.
const (
	DueIndex     = "due"
	DueShardAttr = "due_shard" // string "0" … DueShards-1
	DueAtAttr    = "due_at"    // number, Unix ms
	DueShards    = 16
)

// DynamoDB's limits on batch calls.
const (
	MaxBatchGet   = 100 // keys in one BatchGetItem
	MaxBatchWrite = 25  // requests in one BatchWriteItem
)

// A person's channels (issue 25: Slack, Teams, webhooks, PagerDuty) live in a partition per
// user, so that the notify function reads an alert's user's channels with one Query (and caches
// them, at most ChannelsCacheBound), and its role may read nothing but channels partitions:
//
//	pk=#CHANNELS#<user_id>  sk=CHANNEL#<channel id>  user_id, channel, min_severity, redacted,
//	                                                 has_secret, sealed
//
// The channel id is channel.Channel.ID (a hash of user, kind and target), so that putting the
// same channel again replaces it. The target and the secret are only in sealed: the JSON
// {"target","secret"} encrypted with the stack's channels KMS key, under the encryption context
// {user_id, channel_id} (an item's sealed value does not open as another item's). redacted is
// channel.Channel.Redacted, what listings print without decrypting.
const (
	ChannelsPKPrefix = "#CHANNELS#"
	SKChannelPrefix  = "CHANNEL#"
)

// ChannelsCacheBound is how long the notify function may use a user's channels after reading
// them: a put or delete reaches the function within it.
const ChannelsCacheBound = 60 * time.Second
