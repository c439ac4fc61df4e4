package pipeline

import (
	"encoding/json"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of issue 26's template points: a dead pipeline pages someone, people's failed alerts
// page, the hot path writes alarm state only, service roles trust this account only, a destroy
// succeeds and leaves nothing billing unsaid, the mappings give up before the stream trims.

// alarmsNamed returns the template's alarms whose logical id starts with Operations<name>.
func alarmsNamed(name string) []map[string]any {
	var out []map[string]any
	for id, a := range resources("AWS::CloudWatch::Alarm") {
		if strings.HasPrefix(id, "Operations"+name) && len(id) == len("Operations"+name)+8 {
			out = append(out, a)
		}
	}
	return out
}

// TestHeartbeat: the valid readings reaching the evaluate function, counted over 15 minutes,
// under the floor or missing (a dead path publishes nothing) page; heartbeat=off makes none.
func TestHeartbeat(t *testing.T) {
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"Namespace": "iotwatch", "MetricName": "Readings",
		"Dimensions": []any{map[string]any{"Name": "Function", "Value": "evaluate"}},
		"Statistic":  "Sum", "Period": HeartbeatMinutes * 60, "Threshold": 1, "ComparisonOperator": "LessThanThreshold",
		"EvaluationPeriods": 1, "TreatMissingData": "breaching", "AlarmActions": assertions.Match_AnyValue()})
	require.Len(t, alarmsNamed("Heartbeat"), 1)

	off := synthAnother(t, func(p *Props) { p.Heartbeat = 0 })
	if n := len(*off.FindResources(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{"Properties": map[string]any{"MetricName": "Readings"}})); n != 0 {
		t.Errorf("heartbeat off: %d alarms on Readings", n)
	}
	floor := synthAnother(t, func(p *Props) { p.Heartbeat = 600 })
	floor.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{"MetricName": "Readings", "Threshold": 600})
}

// TestOnlyTheHeartbeatBreachesOnMissingData: no data is fine for every alarm but the heartbeat,
// so that a fresh stack pages for the heartbeat alone (and only while it has no device).
func TestOnlyTheHeartbeatBreachesOnMissingData(t *testing.T) {
	var breaching []string
	for id, a := range resources("AWS::CloudWatch::Alarm") {
		if a["TreatMissingData"] == "breaching" {
			breaching = append(breaching, alarmName(id))
		}
	}
	assert.Equal(t, []string{"Heartbeat"}, breaching)
}

// TestSilenceMissingStartsQuiet: the alarm on the silence check's missed runs treats no data as
// missing, so a fresh stack goes from INSUFFICIENT_DATA to OK with no page; a check that stops
// later is INSUFFICIENT_DATA, which notifies the operators.
func TestSilenceMissingStartsQuiet(t *testing.T) {
	a := alarmsNamed("SilenceMissing")
	require.Len(t, a, 1)
	assert.Equal(t, "Invocations", a[0]["MetricName"])
	assert.Equal(t, "missing", a[0]["TreatMissingData"])
	assert.NotEmpty(t, a[0]["InsufficientDataActions"], "no data must notify")
	assert.Equal(t, a[0]["AlarmActions"], a[0]["InsufficientDataActions"], "to the operators' topic")
}

// TestAlertsNotificationsFailed: SNS's failed deliveries of the alerts topic page.
func TestAlertsNotificationsFailed(t *testing.T) {
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"Namespace": "AWS/SNS", "MetricName": "NumberOfNotificationsFailed",
		"Dimensions": []any{map[string]any{"Name": "TopicName", "Value": map[string]any{"Fn::GetAtt": []any{
			assertions.Match_StringLikeRegexp(jsii.String("^AlertingAlerts[0-9A-F]{8}$")), "TopicName"}}}},
		"Statistic": "Sum", "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
		"AlarmActions": assertions.Match_AnyValue()})
}

// statement is one statement of an IAM policy, as the template has it.
type statement struct {
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

func (s statement) actions() []string { return strings1(s.Action) }

// strings1 is a policy value that is a string or a list of them.
func strings1(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// like is IAM's StringLike: * any run of characters, ? one.
func like(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// conditionHolds evaluates the statement's conditions on a request whose dynamodb:LeadingKeys
// are keys, as IAM does for the operators used here: ForAllValues holds when every request value
// passes (and when there is none), ForAnyValue when one does; StringNotLike passes a value that
// matches none of the patterns. An operator this test does not know fails the test.
func conditionHolds(t *testing.T, cond map[string]map[string]any, keys []string) bool {
	t.Helper()
	for op, byKey := range cond {
		for key, v := range byKey {
			if key != "dynamodb:LeadingKeys" {
				t.Fatalf("a condition on %s: this test evaluates dynamodb:LeadingKeys only", key)
			}
			patterns := strings1(v)
			set, test, _ := strings.Cut(op, ":")
			pass := func(k string) bool {
				matched := false
				for _, p := range patterns {
					matched = matched || like(p, k)
				}
				switch test {
				case "StringLike":
					return matched
				case "StringNotLike":
					return !matched
				}
				t.Fatalf("condition operator %s: not evaluated by this test", op)
				return false
			}
			switch set {
			case "ForAllValues":
				for _, k := range keys {
					if !pass(k) {
						return false
					}
				}
			case "ForAnyValue":
				hit := false
				for _, k := range keys {
					hit = hit || pass(k)
				}
				if !hit {
					return false
				}
			default:
				t.Fatalf("condition %s on a multivalued key without ForAllValues or ForAnyValue", op)
			}
		}
	}
	return true
}

// tableStatements are the statements of a role's policies that apply to the table itself (not
// its index).
func tableStatements(t *testing.T, rolePrefix string) []statement {
	t.Helper()
	var out []statement
	for id, p := range resources("AWS::IAM::Policy") {
		if !strings.HasPrefix(id, rolePrefix) {
			continue
		}
		b, _ := json.Marshal(p["PolicyDocument"].(map[string]any)["Statement"])
		var sts []statement
		require.NoError(t, json.Unmarshal(b, &sts))
		for _, s := range sts {
			res, _ := json.Marshal(s.Resource)
			if strings.Contains(string(res), "AlertingTable") && !strings.Contains(string(res), "/index/") {
				out = append(out, s)
			}
		}
	}
	require.NotEmpty(t, out, "%s has no statement on the table", rolePrefix)
	return out
}

// allowed is IAM's decision on one request: an explicit Deny wins, then any Allow, else no.
func allowed(t *testing.T, sts []statement, action string, keys []string) bool {
	t.Helper()
	allow := false
	for _, s := range sts {
		applies := false
		for _, a := range s.actions() {
			applies = applies || like(a, action)
		}
		if !applies || !conditionHolds(t, s.Condition, keys) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allow = true
	}
	return allow
}

// TestFunctionsWriteOnlyAlarmState: the evaluate, silence and links functions may write a
// device's partition (its alarm state) and, for the first two, people's held alerts; never
// people's preferences, the aggregation's lease, or the rules of locations and the fleet; and a
// Deny says so even if an Allow is added later. The template's statements are evaluated as IAM
// evaluates them (minidyn, the tests' DynamoDB, does not enforce IAM: this is the refused write).
// IAM cannot tell a device's STATE item from its THRESHOLD#, RULE# or META items (one partition;
// no condition key on the sort key): the code's SaveState is what writes STATE only.
func TestFunctionsWriteOnlyAlarmState(t *testing.T) {
	device, held := []string{"room-1"}, []string{"#HELD#alice"}
	protected := [][]string{{"#USERS"}, {"#LOCK"}, {"#RULES#fleet"}, {"#RULES#location:Building A"}}
	type want struct {
		action string
		keys   []string
		ok     bool
	}
	cases := map[string][]want{
		"AlertingEvaluateRole": {
			{"dynamodb:PutItem", device, true}, {"dynamodb:PutItem", held, true}, {"dynamodb:BatchWriteItem", held, true},
			{"dynamodb:BatchWriteItem", device, false}, {"dynamodb:DeleteItem", device, false}, {"dynamodb:DeleteItem", held, false},
			// one protected key in a batch refuses it
			{"dynamodb:BatchWriteItem", []string{"#HELD#alice", "#USERS"}, false},
			// reads are not narrowed
			{"dynamodb:GetItem", device, true}, {"dynamodb:Query", []string{"#RULES#fleet"}, true},
		},
		"SilenceCheckRole": {
			{"dynamodb:PutItem", device, true}, {"dynamodb:PutItem", held, true}, {"dynamodb:BatchWriteItem", held, true},
			{"dynamodb:DeleteItem", held, true}, {"dynamodb:DeleteItem", device, false}, {"dynamodb:BatchWriteItem", device, false},
		},
		"LinksPagesRole": {
			{"dynamodb:PutItem", device, true}, {"dynamodb:PutItem", held, false}, {"dynamodb:DeleteItem", device, false},
			{"dynamodb:BatchWriteItem", device, false},
		},
	}
	for role, wants := range cases {
		sts := tableStatements(t, role)
		for _, keys := range protected {
			for _, a := range TableWrites {
				wants = append(wants, want{a, keys, false})
			}
		}
		wants = append(wants, want{"dynamodb:UpdateItem", device, false})
		for _, w := range wants {
			if got := allowed(t, sts, w.action, w.keys); got != w.ok {
				t.Errorf("%s: %s on %v allowed %v, want %v", role, w.action, w.keys, got, w.ok)
			}
		}
		// the Deny alone refuses every write to the protected partitions
		var deny []statement
		for _, s := range sts {
			if s.Effect == "Deny" {
				deny = append(deny, s)
			}
		}
		require.Len(t, deny, 1, role)
		assert.ElementsMatch(t, TableWrites, deny[0].actions(), role)
		for _, keys := range protected {
			assert.True(t, conditionHolds(t, deny[0].Condition, keys), "%s: the Deny misses %v", role, keys)
		}
		assert.False(t, conditionHolds(t, deny[0].Condition, device), "%s: the Deny refuses a device's partition", role)
	}
}

// trustStatements are a role's trust statements, by the service principal they name.
func trustStatements(t *testing.T) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, r := range resources("AWS::IAM::Role") {
		for _, st := range r["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			p, _ := s["Principal"].(map[string]any)
			if svc, ok := p["Service"].(string); ok {
				out[svc] = append(out[svc], s)
			}
		}
	}
	return out
}

// TestServiceRolesTrustOnlyThisAccount: every role IoT, Firehose and SNS assume admits this
// account only: each trust statement holds aws:SourceAccount (or, Firehose's own form,
// sts:ExternalId) to the stack's account, and aws:SourceArn to its resources where it names one.
func TestServiceRolesTrustOnlyThisAccount(t *testing.T) {
	account := map[string]any{"Ref": "AWS::AccountId"}
	trusts := trustStatements(t)
	for svc, n := range map[string]int{"iot.amazonaws.com": 1, "firehose.amazonaws.com": 4, "sns.amazonaws.com": 1} {
		require.Len(t, trusts[svc], n, "trust statements naming %s", svc)
		for _, s := range trusts[svc] {
			cond, _ := s["Condition"].(map[string]any)
			eq, _ := cond["StringEquals"].(map[string]any)
			b, _ := json.Marshal(s)
			if !assert.True(t, eq["aws:SourceAccount"] != nil || eq["sts:ExternalId"] != nil, "%s trusted for any account: %s", svc, b) {
				continue
			}
			for _, k := range []string{"aws:SourceAccount", "sts:ExternalId"} {
				if eq[k] != nil {
					assert.Equal(t, account, eq[k], "%s: %s", svc, k)
				}
			}
			if eq["aws:SourceAccount"] != nil {
				arn, _ := json.Marshal(cond)
				assert.Contains(t, string(arn), "aws:SourceArn", "%s: the resource too", svc)
			}
		}
	}
	has(t, "AWS::IAM::Role", map[string]any{"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
		"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": "iot.amazonaws.com"},
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": account},
			"ArnLike": map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"},
				":iot:", map[string]any{"Ref": "AWS::Region"}, ":", account, ":rule/*"}}}}}}}}})
	has(t, "AWS::IAM::Role", map[string]any{"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
		"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": "sns.amazonaws.com"},
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": account},
			"ArnEquals": map[string]any{"aws:SourceArn": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^AlertingAlerts[0-9A-F]{8}$"))}}}}}}})
}

// TestCloudWatchUsesTheOperatorsKeyForThisAccountOnly: CloudWatch may make and read the data keys
// of the operators' topic (kms:Decrypt, kms:GenerateDataKey*), for this account's alarms, and do
// nothing else with any key.
func TestCloudWatchUsesTheOperatorsKeyForThisAccountOnly(t *testing.T) {
	var found []map[string]any
	for id, k := range resources("AWS::KMS::Key") {
		for _, st := range k["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			b, _ := json.Marshal(s["Principal"])
			if !strings.Contains(string(b), "cloudwatch.amazonaws.com") {
				continue
			}
			require.True(t, strings.HasPrefix(id, "OperationsTopicKey"), "CloudWatch in the policy of key %s", id)
			found = append(found, s)
		}
	}
	require.Len(t, found, 1)
	s := found[0]
	assert.Equal(t, "Allow", s["Effect"])
	assert.ElementsMatch(t, []string{"kms:Decrypt", "kms:GenerateDataKey*"}, strings1(s["Action"]))
	cond, _ := s["Condition"].(map[string]any)
	require.NotNil(t, cond, "CloudWatch may use the key for any account")
	assert.Equal(t, map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}, cond["StringEquals"])
	arn, _ := json.Marshal(cond["ArnLike"])
	assert.Contains(t, string(arn), `":alarm:*"`)
}

// TestDestroyLeavesNothingUnsaid: the Athena results bucket is emptied when the stack deletes it
// (CDK's auto-delete custom resource), so that a destroy succeeds; the lake bucket and its
// access logs are kept and never emptied; the readings stream is deleted with the stack; the
// device policy is kept (IoT refuses to delete a policy attached to certificates). Every one of
// these is in docs/deploying.md's "Destroying the stack".
func TestDestroyLeavesNothingUnsaid(t *testing.T) {
	autoDelete := resources("Custom::S3AutoDeleteObjects")
	require.Len(t, autoDelete, 1)
	for _, r := range autoDelete {
		ref, _ := r["BucketName"].(map[string]any)
		assert.Regexp(t, `^LakeAthenaResults[0-9A-F]{8}$`, ref["Ref"])
	}
	policies := map[string]string{} // resource id -> DeletionPolicy
	for id, r := range tmpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		switch rm["Type"] {
		case "AWS::S3::Bucket", "AWS::Kinesis::Stream", "AWS::DynamoDB::Table", "AWS::IoT::Policy":
			p, _ := rm["DeletionPolicy"].(string)
			policies[id[:len(id)-8]] = p
		}
	}
	assert.Equal(t, map[string]string{"LakeAccessLogs": "Retain", "LakeBucket": "Retain", "LakeAthenaResults": "Delete",
		"IngestionReadings": "Delete", "AlertingTable": "Retain",
		"IngestionDevicePolicy": "Retain", // attached to the devices' certificates, IoT would refuse to delete it
	}, policies)
}

// TestMappingsGiveUpBeforeTheStreamTrims: every Kinesis event source mapping gives up on a record
// (its batch's place to the on-failure queue) while the stream still holds it.
func TestMappingsGiveUpBeforeTheStreamTrims(t *testing.T) {
	streams := resources("AWS::Kinesis::Stream")
	require.Len(t, streams, 1)
	var retention float64
	for _, s := range streams {
		retention = s["RetentionPeriodHours"].(float64) * 3600
	}
	n := 0
	for id, m := range resources("AWS::Lambda::EventSourceMapping") {
		src, _ := json.Marshal(m["EventSourceArn"])
		if !strings.Contains(string(src), "IngestionReadings") {
			continue
		}
		n++
		age, ok := m["MaximumRecordAgeInSeconds"].(float64)
		if !ok || age <= 0 || age >= retention {
			t.Errorf("%s: maximum record age %v s, not under the stream's retention %v s", id, m["MaximumRecordAgeInSeconds"], retention)
		}
		assert.NotNil(t, m["DestinationConfig"], "%s: an on-failure destination to give up to", id)
	}
	assert.Equal(t, 2, n, "evaluate and bronze read the stream")
}

// TestDeployDocsNameEveryOutput: docs/deploying.md lists every output of the stack, the region,
// the AWS CLI and jq, make bootstrap and the role a deploying user assumes; the Makefile's
// bootstrap runs the pinned CLI as deploy does.
func TestDeployDocsNameEveryOutput(t *testing.T) {
	b, err := os.ReadFile(path.Join("..", "..", "docs", "deploying.md"))
	require.NoError(t, err)
	doc := string(b)
	var outputs []string
	for name := range tmpl["Outputs"].(map[string]any) {
		outputs = append(outputs, name)
	}
	sort.Strings(outputs)
	for _, o := range outputs {
		if !strings.Contains(doc, "| `"+o+"` |") {
			t.Errorf("docs/deploying.md's table of outputs lacks %s", o)
		}
	}
	for _, want := range []string{"### The region", "AWS CLI v2", "`jq`", "make bootstrap", "sts:AssumeRole", "cdk-hnb659fds-",
		"cloudformation:DescribeStacks", "`heartbeat`", "## Destroying the stack", "`AlertsNotificationsFailed`"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploying.md does not say %s", want)
		}
	}
	mk, err := os.ReadFile(path.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^bootstrap: node_modules/\.bin/cdk\n\t\$\(CDK\) bootstrap `, string(mk))
	assert.Regexp(t, `(?m)^deploy: .*\n\t.*\$\(CDK\) deploy `, string(mk))
}
