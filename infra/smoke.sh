#!/usr/bin/env bash
# make smoke: a first look at a deployed stack, for an account that has it. What no test here can
# check because it needs AWS: a device's readings through IoT Core to an alert, bronze and the
# hourly aggregation through Athena, and an alarm's notification reaching the operators' topic.
#
#   1. a smoke user's thresholds for a new device (temperature over 25 °C, no sustain);
#   2. an SQS queue subscribed to the alerts topic for that user only;
#   3. the device registered (thing, certificate, the stack's policy);
#   4. three readings published with iotwatch simulate --tls on the Basic Ingest topic, and one
#      without event_time (it must reach errors/bronze/, the three bronze);
#   5. waits for the OPEN alert on the queue (2 minutes at most);
#   6. waits for bronze (the bronze function batches up to 60 s, Firehose buffers 60 s more), invokes the aggregate function for that
#      hour and queries hourly_metrics and silver_readings with Athena: 3 readings;
#   7. forces the SmokeAlarm to ALARM (set-alarm-state) and waits until its history shows the
#      SNS action succeeded: the operators' topic accepts CloudWatch's publish;
#   8. lists the dimensions IoT published its rule action metrics with (ActionType);
#   9. removes what it made (also on failure): the queue and subscription, the thing and its
#      certificate, the thresholds. Bronze, silver and gold keep the device's three readings.
#
# Needs: the AWS CLI v2 and jq, credentials for the stack's account and region, bin/iotwatch
# (make cli), network access to IoT Core on port 8883. STACK=name (default iotwatch).
# Nobody has run it against AWS yet: read it before you do; it prints each step.
set -euo pipefail

STACK=${STACK:-iotwatch}
IOTWATCH=${IOTWATCH:-bin/iotwatch}
for tool in aws jq curl "$IOTWATCH"; do
	command -v "$tool" >/dev/null || { echo "smoke: $tool is needed" >&2; exit 2; }
done

step() { printf '\n== %s\n' "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

OUTPUTS=$(aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].Outputs' --output json) ||
	{ echo "smoke: no stack $STACK in this account and region" >&2; exit 2; }
out() { echo "$OUTPUTS" | jq -er ".[] | select(.OutputKey==\"$1\") | .OutputValue"; }

TABLE=$(out TableName)
TOPIC=$(out AlertsTopicArn)
OPS_TOPIC=$(out OperatorsTopicArn)
ENDPOINT=$(out IoTDataEndpoint)
RULE=$(out BasicIngestRule)
POLICY=$(out DevicePolicyName)
BUCKET=$(out LakeBucket)
WORKGROUP=$(out AthenaWorkGroup)
DATABASE=$(out GlueDatabase)
AGGREGATE=$(out AggregateFunction)
ALARM=$(out SmokeAlarm)

RUN=$(date -u +%Y%m%d%H%M%S)
DEVICE=smoke-$RUN
USER_ID=smoke-$RUN
TMP=$(mktemp -d)
QUEUE_URL=
SUB_ARN=
CERT_ARN=

cleanup() {
	set +e
	step "cleaning up"
	[ -n "$SUB_ARN" ] && aws sns unsubscribe --subscription-arn "$SUB_ARN"
	[ -n "$QUEUE_URL" ] && aws sqs delete-queue --queue-url "$QUEUE_URL"
	if [ -n "$CERT_ARN" ]; then
		aws iot detach-policy --policy-name "$POLICY" --target "$CERT_ARN"
		aws iot detach-thing-principal --thing-name "$DEVICE" --principal "$CERT_ARN"
		aws iot update-certificate --certificate-id "${CERT_ARN##*/}" --new-status INACTIVE
		for _ in 1 2 3 4 5 6; do # detaching is asynchronous: the delete is refused until it is done
			aws iot delete-certificate --certificate-id "${CERT_ARN##*/}" 2>/dev/null && break
			sleep 5
		done
	fi
	aws iot delete-thing --thing-name "$DEVICE" 2>/dev/null
	"$IOTWATCH" thresholds delete --table "$TABLE" --user "$USER_ID" --device "$DEVICE" 2>/dev/null
	# the device's alarm state and due-index entry
	aws dynamodb delete-item --table-name "$TABLE" --key "$(jq -nc --arg d "$DEVICE" '{pk:{S:$d},sk:{S:"STATE"}}')" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

step "1. thresholds of $USER_ID for $DEVICE"
cat >"$TMP/thresholds.csv" <<EOF
user_id,device_id,temp_warning,temp_violation,sustain_seconds
$USER_ID,$DEVICE,25,30,0
EOF
"$IOTWATCH" thresholds put "$TMP/thresholds.csv" --table "$TABLE"

step "2. a queue subscribed to the alerts topic for $USER_ID"
QUEUE_URL=$(aws sqs create-queue --queue-name "iotwatch-smoke-$RUN" --query QueueUrl --output text)
QUEUE_ARN=$(aws sqs get-queue-attributes --queue-url "$QUEUE_URL" --attribute-names QueueArn --query Attributes.QueueArn --output text)
POLICY_DOC=$(jq -nc --arg q "$QUEUE_ARN" --arg t "$TOPIC" \
	'{Version:"2012-10-17",Statement:[{Effect:"Allow",Principal:{Service:"sns.amazonaws.com"},Action:"sqs:SendMessage",Resource:$q,Condition:{ArnEquals:{"aws:SourceArn":$t}}}]}')
aws sqs set-queue-attributes --queue-url "$QUEUE_URL" --attributes "$(jq -nc --arg p "$POLICY_DOC" '{Policy:$p}')"
SUB_ARN=$(aws sns subscribe --topic-arn "$TOPIC" --protocol sqs --notification-endpoint "$QUEUE_ARN" \
	--attributes "$(jq -nc --arg u "$USER_ID" '{FilterPolicy: ({user_id: [$u]} | tostring)}')" --return-subscription-arn --query SubscriptionArn --output text)

step "3. the device $DEVICE"
"$IOTWATCH" device register "$DEVICE" --policy "$POLICY" --dir "$TMP"
for _ in 1 2 3 4 5 6; do # the principal is listed a moment after it is attached
	CERT_ARN=$(aws iot list-thing-principals --thing-name "$DEVICE" --query 'principals[0]' --output text)
	[ -n "$CERT_ARN" ] && [ "$CERT_ARN" != None ] && break
	CERT_ARN=
	sleep 5
done
[ -n "$CERT_ARN" ] || fail "no certificate attached to $DEVICE"
curl -fsS -o "$TMP/AmazonRootCA1.pem" https://www.amazontrust.com/repository/AmazonRootCA1.pem
sleep 10 # IoT's new certificate and policy attachment take a few seconds to apply

step "4. three readings on the Basic Ingest topic, and one without a time"
NOW=$(date -u +%s)
base=$((NOW - 30))
if [ $(((base + 20) / 3600)) != $((base / 3600)) ]; then
	base=$(((base + 20) / 3600 * 3600)) # all three in one hour
fi
for i in 0 1 2; do
	t=$(date -u -d "@$((base + 10 * i))" +%Y-%m-%dT%H:%M:%SZ)
	temp=$([ "$i" = 0 ] && echo 22.0 || echo 27.5)
	printf '{"device_id":"%s","event_time":"%s","temperature":%s,"msg_id":"%s-%d"}\n' "$DEVICE" "$t" "$temp" "$DEVICE" "$i"
done >"$TMP/readings.jsonl"
# and one Firehose cannot partition (no event_time): the bronze function sends it in a Firehose
# record of its own; it must be under errors/bronze/, the three in bronze (step 6)
printf '{"device_id":"%s","temperature":21.0,"msg_id":"%s-no-time"}\n' "$DEVICE" "$DEVICE" >>"$TMP/readings.jsonl"
"$IOTWATCH" simulate --tls --cert "$TMP/$DEVICE.cert.pem" --key "$TMP/$DEVICE.private.key" --ca "$TMP/AmazonRootCA1.pem" \
	--client-id "$DEVICE" --broker "$ENDPOINT:8883" --basic-ingest "$RULE" --readings "$TMP/readings.jsonl"
HOUR=$(date -u -d "@$base" +%Y-%m-%dT%H)

step "5. the OPEN alert on the queue"
got=
for _ in 1 2 3 4 5 6; do
	body=$(aws sqs receive-message --queue-url "$QUEUE_URL" --wait-time-seconds 20 --max-number-of-messages 10 --query 'Messages[].Body' --output json)
	if echo "$body" | jq -e --arg d "$DEVICE" '.[]? | fromjson | .Message | fromjson | select(.device_id == $d and .kind == "OPEN")' >/dev/null; then
		got=1
		break
	fi
done
[ -n "$got" ] || fail "no OPEN alert for $DEVICE within 2 minutes (see the evaluate function's logs and the IoTRuleErrors alarm)"
echo "alert received"

step "6. bronze, the aggregation of $HOUR, and Athena"
prefix="bronze/dt=${HOUR%T*}/hour=${HOUR#*T}/"
for _ in $(seq 1 30); do
	# shellcheck disable=SC2016 # a JMESPath literal, not a shell expansion
	n=$(aws s3api list-objects-v2 --bucket "$BUCKET" --prefix "$prefix" --query 'length(Contents || `[]`)' --output text)
	[ "$n" != "0" ] && break
	sleep 10
done
[ "$n" != "0" ] || fail "nothing under s3://$BUCKET/$prefix after 5 minutes (the BronzeReadLag, BronzeForwardErrors, BronzeFreshness and BronzeDeliveryFailures alarms)"
# the reading with no event_time went to errors/ alone (Firehose writes it base64 in rawData)
found=
for _ in $(seq 1 30); do
	for key in $(aws s3api list-objects-v2 --bucket "$BUCKET" --prefix errors/bronze/ --query 'Contents[].Key' --output text); do
		[ "$key" = None ] && continue
		if aws s3 cp "s3://$BUCKET/$key" - | gunzip -c 2>/dev/null | jq -r '.rawData // empty | @base64d' | grep -q "$DEVICE-no-time"; then
			found=1
			break 2
		fi
	done
	sleep 10
done
[ -n "$found" ] || fail "the reading with no event_time is not under s3://$BUCKET/errors/bronze/ after 5 minutes"
next=$(date -u -d "@$((base / 3600 * 3600 + 3600))" +%Y-%m-%dT%H)
# one call, waited for: the CLI's 60 s read timeout would give up and call again (a second run,
# waiting for the first one's lease)
AWS_MAX_ATTEMPTS=1 aws lambda invoke --cli-read-timeout 900 --function-name "$AGGREGATE" --cli-binary-format raw-in-base64-out \
	--payload "{\"from\":\"$HOUR\",\"to\":\"$next\"}" "$TMP/aggregate.json" >/dev/null
jq -e --arg h "$HOUR" '.hours | index($h)' "$TMP/aggregate.json" >/dev/null || fail "the aggregation answered $(cat "$TMP/aggregate.json")"
athena() {
	id=$(aws athena start-query-execution --work-group "$WORKGROUP" --query-execution-context "Database=$DATABASE" \
		--query-string "$1" --query QueryExecutionId --output text)
	for _ in $(seq 1 60); do
		state=$(aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.State --output text)
		case "$state" in
		SUCCEEDED) break ;;
		FAILED | CANCELLED) fail "Athena: $(aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.StateChangeReason --output text)" ;;
		esac
		sleep 2
	done
	aws athena get-query-results --query-execution-id "$id" --query 'ResultSet.Rows[1].Data[0].VarCharValue' --output text
}
hour_ts="${HOUR%T*} ${HOUR#*T}:00:00"
readings=$(athena "SELECT readings FROM hourly_metrics WHERE device_id = '$DEVICE' AND hour_start = TIMESTAMP '$hour_ts'")
[ "$readings" = 3 ] || fail "hourly_metrics counts $readings readings of $DEVICE in $HOUR; want 3"
silver=$(athena "SELECT count(*) FROM silver_readings WHERE device_id = '$DEVICE' AND event_time >= TIMESTAMP '$hour_ts'")
[ "$silver" = 3 ] || fail "silver_readings holds $silver readings of $DEVICE; want 3"
echo "hourly_metrics and silver_readings: 3 readings"

step "7. an alarm's notification reaches the operators' topic ($ALARM)"
since=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ) # a minute early: this clock and AWS's may differ
aws cloudwatch set-alarm-state --alarm-name "$ALARM" --state-value ALARM --state-reason "iotwatch make smoke $RUN"
ok=
for _ in $(seq 1 30); do
	if aws cloudwatch describe-alarm-history --alarm-name "$ALARM" --history-item-type Action --start-date "$since" \
		--query 'AlarmHistoryItems[].HistorySummary' --output json | jq -e --arg t "$OPS_TOPIC" '.[] | select(startswith("Successfully executed action") and contains($t))' >/dev/null; then
		ok=1
		break
	fi
	sleep 5
done
[ -n "$ok" ] || fail "no successful SNS action in $ALARM's history: $(aws cloudwatch describe-alarm-history --alarm-name "$ALARM" --history-item-type Action --start-date "$since" --query 'AlarmHistoryItems[].HistorySummary' --output text)"
echo "the notification was delivered to the operators' topic (the alarm returns to its state at its next evaluation)"

step "8. the dimensions IoT publishes its rule action metrics with (the IoTRuleErrors alarm assumes ActionType=Kinesis)"
for _ in $(seq 1 20); do # a new metric takes up to 15 minutes to be listed
	dims=$(aws cloudwatch list-metrics --namespace AWS/IoT --metric-name Success --query 'Metrics[].Dimensions' --output json |
		jq -c --arg r "$RULE" '[.[] | select(any(.[]; .Name == "RuleName" and .Value == $r))]')
	[ "$dims" != "[]" ] && break
	sleep 45
done
echo "$dims"
echo "$dims" | jq -e '.[] | select(any(.[]; .Name == "ActionType" and .Value == "Kinesis"))' >/dev/null ||
	fail "IoT publishes no ActionType=Kinesis for the rule (the IoTRuleErrors alarm would never fire): $dims"

step "smoke: everything checked"
