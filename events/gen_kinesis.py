#!/usr/bin/env python3
"""Regenerates the sample Kinesis events in this folder (python3 gen_kinesis.py)."""
import base64, json

ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/iotwatch-readings"
SEQ0 = 49590338271490256608559692538361571095921575989136588800

def record(i, data, key, arrival):
    seq = str(SEQ0 + i)
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key, "sequenceNumber": seq,
                    "data": base64.b64encode(data.encode() if isinstance(data, str) else data).decode(),
                    "approximateArrivalTimestamp": arrival},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000000:" + seq, "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/iotwatch-evaluate",
        "awsRegion": "eu-west-1", "eventSourceARN": ARN,
    }

def reading(dev, minute, temp, light, occ, n):
    return json.dumps({"device_id": dev, "event_time": "2015-02-02T14:%02d:00Z" % minute, "temperature": temp,
                       "humidity": 26.27, "light": light, "co2": 749.2, "humidity_ratio": 0.0047641,
                       "occupancy": occ, "msg_id": "%s-%06d" % (dev, n)}, separators=(",", ":"))

T0 = 1422886740.0  # 2015-02-02T14:19:00Z
recs = []
# room-1: warm for six minutes (alice: OPEN WARNING after 300 s, ESCALATE), then back to normal.
temps = [23.1, 23.2, 23.4, 23.9, 24.0, 24.1, 23.9, 22.5]
for k, t in enumerate(temps):
    recs.append((reading("room-1", 19 + k, t, 585.2, 1, 140 + k), "room-1", T0 + 60 * k + 1))
# room-2: lights on in an empty room for three minutes (carol: OPEN after 120 s), then occupied.
for k, (light, occ) in enumerate([(450, 0), (460, 0), (455, 0), (470, 1)]):
    recs.append((reading("room-2", 19 + k, 21.0, light, occ, 500 + k), "room-2", T0 + 60 * k + 2))
# rejected records: malformed JSON, a metric out of range, a reading published on another device's topic
recs.append(('{"device_id":"room-1","event_time":"2015-02-02T14:27:00Z","temperature":', "room-1", T0 + 481))
recs.append((reading("room-1", 27, 151.0, 585.2, 1, 999), "room-1", T0 + 482))
recs.append((reading("room-1", 27, 22.0, 585.2, 1, 998), "room-9", T0 + 483))
# keep per-device arrival order, interleave devices as a shard would
recs.sort(key=lambda r: r[2])
event = {"Records": [record(i, d, k, a) for i, (d, k, a) in enumerate(recs)]}
json.dump(event, open("kinesis-readings.json", "w"), indent=2)

scheduled = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-03-01T07:05:00Z", "region": "eu-west-1",
             "resources": ["arn:aws:events:eu-west-1:123456789012:rule/iotwatch-hourly"], "detail": {}}
json.dump(scheduled, open("scheduled-hourly.json", "w"), indent=2)
json.dump({"from": "2026-03-01T00", "to": "2026-03-01T06"}, open("aggregate-backfill.json", "w"), indent=2)
