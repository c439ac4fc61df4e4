package lakeview

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/iotwatch/iotwatch/shared/contract/lake"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
)

// Catalog is where the pages read the metrics catalog in force, at each read (docs/metrics.md): a
// running pipeline's store, which follows its metrics file as it changes (filestore.Store's
// Catalog), or the file of `iotwatch serve` and `iotwatch report`, read once (StaticCatalog).
type Catalog func(ctx context.Context) (*reading.Catalog, error)

// StaticCatalog is a catalog read once (nil: the built-in metrics only).
func StaticCatalog(c *reading.Catalog) Catalog {
	return func(context.Context) (*reading.Catalog, error) { return c, nil }
}

// declaredColors are the declared metrics' charts' colours, in catalog order (round).
var declaredColors = []string{"#00696b", "#7d5260", "#3b6b00", "#a0410d", "#4a5a8a", "#6b5e00"}

// declaredCharts adds a chart for each metric the catalog in force declares that the device has
// a value of from..to, in catalog order, with its unit: its readings (silver_readings.metrics) up
// to rawUpTo, its hourly minimum, average and maximum (hourly_metric_values) beyond. Each has its
// own time axis: a device sends a declared metric in some readings only. A metric the device
// never sent in the range has no chart.
func (r *Reader) declaredCharts(ctx context.Context, c *chartSet, id string, from, to time.Time, raw bool) error {
	cat, err := r.units(ctx)
	if err != nil || cat == nil {
		return err
	}
	decl := cat.Declared()
	if len(decl) == 0 {
		return nil
	}
	read := r.hourlyDeclared
	if raw {
		read = r.rawDeclared
	}
	points, err := read(ctx, id, from, to)
	if err != nil {
		return err
	}
	for i, d := range decl {
		pts := points[d.Name]
		if len(pts) == 0 {
			continue
		}
		color := declaredColors[i%len(declaredColors)]
		ch := Chart{ID: d.Name, Title: d.Name, Unit: d.Unit}
		labels := []string{d.Name}
		widths := []float64{1.5}
		if !raw {
			labels = []string{d.Name + " min", d.Name + " avg", d.Name + " max"}
			widths = []float64{1, 2, 1}
		}
		for j, l := range labels {
			col := color
			if widths[j] < 1.5 {
				col += "99" // the min and max fainter than the average
			}
			ch.Series = append(ch.Series, Series{Label: l, Color: col, Width: widths[j]})
		}
		for _, p := range pts {
			ch.X = append(ch.X, p.t)
			for j := range ch.Series {
				ch.Series[j].Values = append(ch.Series[j].Values, null(p.v[j]))
			}
		}
		c.charts = append(c.charts, ch)
	}
	return nil
}

// declaredPoint is one time of a declared metric's chart: its value, or its hourly min, avg, max.
type declaredPoint struct {
	t int64
	v []sql.NullFloat64
}

// rawDeclared reads the device's declared metrics' values from..to from silver's metrics map,
// one point a second at the most, by metric, oldest first.
func (r *Reader) rawDeclared(ctx context.Context, id string, from, to time.Time) (map[string][]declaredPoint, error) {
	files := r.hourFiles(lake.SilverReadingsTable, from, to)
	if len(files) == 0 {
		return nil, nil
	}
	// silver files written before the metrics column was added have none
	var n int
	if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM parquet_schema("+listLit(files)+") WHERE name = 'metrics'").Scan(&n); err != nil {
		return nil, fmt.Errorf("reading silver's columns: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	out := map[string][]declaredPoint{}
	q := "SELECT t, e.key, any_value(e.value) FROM (SELECT epoch(event_time)::BIGINT AS t, unnest(map_entries(metrics)) AS e FROM read_parquet(" +
		listLit(files) + ", union_by_name = true) WHERE device_id = ? AND metrics IS NOT NULL AND event_time >= " + tsLit(from) +
		" AND event_time < " + tsLit(to) + ") GROUP BY t, e.key ORDER BY t"
	err := r.query(ctx, "declared metrics", q, []any{id}, func(rs scanner) error {
		var t int64
		var k string
		var v sql.NullFloat64
		if err := rs.Scan(&t, &k, &v); err != nil {
			return err
		}
		if v.Valid {
			out[k] = append(out[k], declaredPoint{t, []sql.NullFloat64{v}})
		}
		return nil
	})
	return out, err
}

// hourlyDeclared reads the device's declared metrics' hourly minimum, average and maximum
// from..to (hourly_metric_values), by metric, oldest first.
func (r *Reader) hourlyDeclared(ctx context.Context, id string, from, to time.Time) (map[string][]declaredPoint, error) {
	files := r.hourFiles(lake.HourlyMetricValuesTable, from, to)
	if len(files) == 0 {
		return nil, nil
	}
	out := map[string][]declaredPoint{}
	q := "SELECT epoch(hour_start)::BIGINT, metric, value_min, value_avg, value_max FROM read_parquet(" + listLit(files) +
		") WHERE device_id = ? AND hour_start >= " + tsLit(from) + " AND hour_start < " + tsLit(to) + " ORDER BY hour_start, metric"
	err := r.query(ctx, "hourly declared metrics", q, []any{id}, func(rs scanner) error {
		var t int64
		var k string
		v := make([]sql.NullFloat64, 3)
		if err := rs.Scan(&t, &k, &v[0], &v[1], &v[2]); err != nil {
			return err
		}
		if slices.ContainsFunc(v, func(x sql.NullFloat64) bool { return x.Valid }) {
			out[k] = append(out[k], declaredPoint{t, v})
		}
		return nil
	})
	return out, err
}
