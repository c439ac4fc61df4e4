// Package topic names the MQTT topics devices publish on, and the IoT topic rule that feeds the
// stream: the same rule SQL on AWS IoT Core (infra/) and in the local pipeline.
package topic

import "strings"

// Filter is the topic filter of readings: devices/{device_id}/readings.
const Filter = "devices/+/readings"

// RuleSQL selects every reading, unchanged, from every device's topic (SQL version 2016-03-23).
// The Kinesis action keys each record by the topic's device id, ${topic(2)}.
const RuleSQL = "SELECT * FROM '" + Filter + "'"

// RuleSQLVersion is the IoT SQL version the rule uses.
const RuleSQLVersion = "2016-03-23"

// PartitionKey is the Kinesis action's partition key: the second level of the topic.
const PartitionKey = "${topic(2)}"

// Readings returns the topic a device publishes its readings on.
func Readings(deviceID string) string { return "devices/" + deviceID + "/readings" }

// BasicIngestPrefix starts a topic published straight to a rule (AWS IoT Core's Basic Ingest:
// $aws/rules/<rule name>/<topic>): no message broker, so no messaging charge, and the rule sees
// the topic after the prefix, so topic(2) is the device id either way.
const BasicIngestPrefix = "$aws/rules/"

// BasicIngest returns the Basic Ingest topic of a device's readings for the named rule.
func BasicIngest(rule, deviceID string) string {
	return BasicIngestPrefix + rule + "/" + Readings(deviceID)
}

// RuleTopic is the topic a rule sees: t without a Basic Ingest prefix.
func RuleTopic(t string) string {
	if rest, ok := strings.CutPrefix(t, BasicIngestPrefix); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			return after
		}
	}
	return t
}

// DeviceOf returns the device id of a readings topic (topic(2)), and whether the topic is one;
// the Basic Ingest topic of a device's readings is one.
func DeviceOf(t string) (string, bool) {
	parts := strings.Split(RuleTopic(t), "/")
	if len(parts) != 3 || parts[0] != "devices" || parts[2] != "readings" || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
