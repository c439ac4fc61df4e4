# Firehose dynamic partitioning (JQ 1.6): the UTC hour of a record's time field, for the prefix
# dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/. JQ 1.6 parses one spelling of
# a date (YYYY-MM-DDTHH:MM:SSZ), so the offset and fraction that RFC 3339 allows are taken apart
# here: the fraction is dropped (it never changes the hour) and the offset subtracted.
# FIELD is replaced by the field name (event_time for readings, alert_time for alerts). A batched
# message (a readings field) is filed under its first element's time (reading.PartitionHour).
(if type == "object" and has("readings") then .readings[0] else . end)
| .FIELD
| capture("^(?<d>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?<t>[0-9]{2}:[0-9]{2}:[0-9]{2})(\\.[0-9]{1,9})?(?<z>Z|[+-][0-9]{2}:[0-9]{2})$")
| ((.d + "T" + .t + "Z") | fromdateiso8601)
  - (if .z == "Z" then 0
     else ((.z[1:3] | tonumber) * 3600 + (.z[4:6] | tonumber) * 60) * (if .z[0:1] == "-" then -1 else 1 end)
     end)
| {dt: strftime("%Y-%m-%d"), hour: strftime("%H")}
