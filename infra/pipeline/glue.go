package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
)

// columns are a lake table's columns in the Glue catalog (shared/contract/lake defines them once,
// for Glue and for the local query engine).
func columns(cols []lake.Column) *[]*awsglue.CfnTable_ColumnProperty {
	out := make([]*awsglue.CfnTable_ColumnProperty, len(cols))
	for i, c := range cols {
		out[i] = &awsglue.CfnTable_ColumnProperty{Name: jsii.String(c.Name), Type: jsii.String(c.Type.Glue())}
	}
	return &out
}

// projected returns the table parameters of partition projection over prefix/dt=…/hour=…/: no
// partitions to add or crawl, and queries that filter on dt (and hour) read only those folders.
func projected(l *Lake, prefix string, extra map[string]string) map[string]interface{} {
	params := map[string]interface{}{
		"projection.enabled":          "true",
		"projection.dt.type":          "date",
		"projection.dt.format":        "yyyy-MM-dd",
		"projection.dt.range":         "2015-01-01,NOW",
		"projection.dt.interval":      "1",
		"projection.dt.interval.unit": "DAYS",
		"projection.hour.type":        "integer",
		"projection.hour.range":       "0,23",
		"projection.hour.digits":      "2",
		"storage.location.template":   "s3://" + *l.Bucket.BucketName() + "/" + prefix + "/dt=${dt}/hour=${hour}/",
		"classification":              "json",
		"compressionType":             "gzip",
	}
	for k, v := range extra {
		params[k] = v
	}
	return params
}

func newTables(l *Lake) {
	stack := awscdk.Stack_Of(l.Construct)
	table := func(id, name, prefix, desc, serde string, serdeParams map[string]interface{}, cols []lake.Column, extra map[string]string) {
		t := awsglue.NewCfnTable(l.Construct, jsii.String(id), &awsglue.CfnTableProps{
			CatalogId:    stack.Account(),
			DatabaseName: l.DatabaseName,
			TableInput: &awsglue.CfnTable_TableInputProperty{
				Name:          jsii.String(name),
				Description:   jsii.String(desc),
				TableType:     jsii.String("EXTERNAL_TABLE"),
				PartitionKeys: columns(lake.PartitionColumns),
				Parameters:    projected(l, prefix, extra),
				StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
					Columns:      columns(cols),
					Location:     jsii.String("s3://" + *l.Bucket.BucketName() + "/" + prefix + "/"),
					InputFormat:  jsii.String("org.apache.hadoop.mapred.TextInputFormat"),
					OutputFormat: jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
					Compressed:   jsii.Bool(true),
					SerdeInfo:    &awsglue.CfnTable_SerdeInfoProperty{SerializationLibrary: jsii.String(serde), Parameters: serdeParams},
				},
			},
		})
		t.Node().AddDependency(l.Database)
	}
	jsonSerde := "org.openx.data.jsonserde.JsonSerDe"
	table("BronzeLines", "bronze_lines", lake.Bronze, "Raw readings, one line each: the hourly aggregation validates every line as the evaluate function does",
		"org.apache.hadoop.hive.serde2.RegexSerDe", map[string]interface{}{"input.regex": "^(.*)$"}, []lake.Column{{Name: "line", Type: lake.String}}, nil)
	table("BronzeReadings", lake.BronzeReadingsTable.Name, lake.BronzeReadingsTable.Prefix, "Raw readings as columns (a line that is not JSON reads as nulls); filter on dt and hour",
		jsonSerde, map[string]interface{}{"ignore.malformed.json": "true"}, lake.BronzeReadingsTable.Columns, nil)
	table("Alerts", lake.AlertsTable.Name, lake.AlertsTable.Prefix, "Alerts as published (OPEN, ESCALATE, RESOLVE); filter on dt and hour",
		jsonSerde, map[string]interface{}{"ignore.malformed.json": "true"}, lake.AlertsTable.Columns, nil)
	table("Rejections", lake.RejectionsTable.Name, lake.RejectionsTable.Prefix, "Bronze lines the evaluate function rejected (by the MD5 of the line), by the hour bronze files them under: the aggregation leaves them out",
		jsonSerde, map[string]interface{}{"ignore.malformed.json": "true"}, lake.RejectionsTable.Columns, nil)

	// devices: the metadata snapshot `iotwatch devices put --bucket` writes, for location_hourly.
	dev := awsglue.NewCfnTable(l.Construct, jsii.String("Devices"), &awsglue.CfnTableProps{
		CatalogId:    stack.Account(),
		DatabaseName: l.DatabaseName,
		TableInput: &awsglue.CfnTable_TableInputProperty{
			Name:        jsii.String(lake.DevicesTable.Name),
			Description: jsii.String("Device metadata (device_id, name, location), replaced whole by iotwatch devices put --bucket"),
			TableType:   jsii.String("EXTERNAL_TABLE"),
			Parameters:  map[string]interface{}{"classification": "json", "compressionType": "gzip"},
			StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
				Columns:      columns(lake.DevicesTable.Columns),
				Location:     jsii.String("s3://" + *l.Bucket.BucketName() + "/" + lake.DevicesTable.Prefix + "/"),
				InputFormat:  jsii.String("org.apache.hadoop.mapred.TextInputFormat"),
				OutputFormat: jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
				Compressed:   jsii.Bool(true),
				SerdeInfo: &awsglue.CfnTable_SerdeInfoProperty{SerializationLibrary: jsii.String(jsonSerde),
					Parameters: map[string]interface{}{"ignore.malformed.json": "true"}},
			},
		},
	})
	dev.Node().AddDependency(l.Database)
	// The Iceberg tables (silver_readings, hourly_metrics, daily_metrics, dq_hourly,
	// location_hourly) are not here: the aggregate function creates them with Athena DDL
	// (aggregate.TableStatements), so that no stack update can rewrite them.
}

// namedQueries are the questions users ask, saved in the workgroup.
var namedQueries = []struct{ id, name, desc, sql string }{
	{"LatestReadings", "Latest readings of a device", "The last readings of one device today",
		`SELECT event_time, temperature, humidity, light, co2, occupancy
FROM bronze_readings
WHERE device_id = 'room-1' AND dt = CAST(current_date AS varchar)
ORDER BY event_time DESC
LIMIT 20`},
	{"UserAlertsThisWeek", "Alerts of a user this week", "Every alert raised for one user in the last 7 days",
		`SELECT alert_time, device_id, rule, kind, severity, observed_value, threshold_value
FROM alerts
WHERE user_id = 'alice' AND dt >= CAST(current_date - INTERVAL '7' DAY AS varchar)
ORDER BY alert_time`},
	{"HourlyTemperature", "Hourly temperature of a room", "Hourly temperature, readings and health of one device over two days",
		`SELECT hour_start, readings, temperature_min, temperature_avg, temperature_max, temperature_p95, health_pct
FROM hourly_metrics
WHERE device_id = 'room-1' AND hour_start >= current_timestamp - INTERVAL '2' DAY
ORDER BY hour_start`},
	{"SilentDevices", "Devices that went silent", "Devices with readings in the last day but none, or too few, in the last two hours",
		`WITH recent AS (
  SELECT device_id, max(hour_start) AS last_hour, sum(readings) AS readings
  FROM hourly_metrics
  WHERE hour_start >= current_timestamp - INTERVAL '1' DAY
  GROUP BY device_id
)
SELECT device_id, last_hour, readings
FROM recent
WHERE last_hour < current_timestamp - INTERVAL '2' HOUR
ORDER BY last_hour`},
}

func newNamedQueries(l *Lake) {
	for _, q := range namedQueries {
		nq := awsathena.NewCfnNamedQuery(l.Construct, jsii.String(q.id), &awsathena.CfnNamedQueryProps{
			Name:        jsii.String(q.name),
			Description: jsii.String(q.desc),
			Database:    l.DatabaseName,
			WorkGroup:   l.WorkGroupName,
			QueryString: jsii.String(q.sql),
		})
		nq.Node().AddDependency(l.WorkGroup)
	}

}
