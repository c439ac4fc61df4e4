package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// fleetPK is the fleet's partition, which holds the catalog's METRIC items beside its rows.
const fleetPK = table.FleetPK

// metricItem is a METRIC item: the declared metric's name and unit as strings, its bounds and
// floor as numbers (named as the metrics file's columns).
func metricItem(d reading.Declared) map[string]types.AttributeValue {
	item := key(fleetPK, table.SKMetricPrefix+d.Name)
	item["name"] = &types.AttributeValueMemberS{Value: d.Name}
	if d.Unit != "" {
		item["unit"] = &types.AttributeValueMemberS{Value: d.Unit}
	}
	for name, v := range map[string]float64{"min": d.Min, "max": d.Max, "floor": d.Floor} {
		item[name] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'g', -1, 64)}
	}
	return item
}

// metricFromItem reads a METRIC item and checks it as a file's line would be.
func metricFromItem(item map[string]types.AttributeValue) (reading.Declared, error) {
	d := reading.Declared{Name: str(item["name"]), Unit: str(item["unit"])}
	var errs []error
	for name, v := range map[string]*float64{"min": &d.Min, "max": &d.Max, "floor": &d.Floor} {
		var n threshold.Value
		errs = append(errs, numberAttr(item, name, &n))
		if !n.Set && name != "floor" {
			errs = append(errs, fmt.Errorf("%s: missing", name))
		}
		*v = n.V
	}
	if err := errors.Join(errs...); err != nil {
		return d, err
	}
	return d, d.Check()
}

// ListMetrics returns the declared metrics the table holds, by name (a strongly consistent read:
// for the operators' CLI; the functions read the catalog with the fleet's rows).
func (s *Store) ListMetrics(ctx context.Context) ([]reading.Declared, error) {
	var out []reading.Declared
	err := s.queryPartition(ctx, fleetPK, table.SKMetricPrefix, func(item map[string]types.AttributeValue) error {
		d, err := metricFromItem(item)
		if err != nil {
			return fmt.Errorf("reading metric %s: %w", str(item[SK]), err)
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the metrics catalog: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PutMetrics declares metrics (validated by the caller) over what the table holds: a metric of
// the same name is replaced. The catalog the table would then hold is checked whole (names
// declared once, at most reading.MaxDeclared) and refused, nothing written, when bad. A change
// reaches the functions within table.RulesCacheBound.
func (s *Store) PutMetrics(ctx context.Context, ds []reading.Declared) error {
	var bad []error
	for _, d := range ds {
		if err := metricStorable(d); err != nil {
			bad = append(bad, fmt.Errorf("metric %q: %w", d.Name, err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing written:\n%w", errors.Join(bad...))
	}
	held, err := s.ListMetrics(ctx)
	if err != nil {
		return err
	}
	if _, err := reading.NewCatalog(reading.UpsertDeclared(held, ds)); err != nil {
		return fmt.Errorf("the table's catalog would be invalid, nothing written:\n%w", err)
	}
	reqs := make([]types.WriteRequest, 0, len(ds))
	for _, d := range ds {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: metricItem(d.WithDefaults())}})
	}
	return s.batchWrite(ctx, reqs)
}

// DeleteMetrics removes declared metrics. A name the catalog does not hold, or one that a stored
// rule names, refuses the whole call, nothing deleted: delete or change those rules first. The
// metric's data stays where it is (bronze keeps every field; DESIGN.md, "Metrics catalog").
func (s *Store) DeleteMetrics(ctx context.Context, names []string) error {
	held, err := s.ListMetrics(ctx)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, d := range held {
		has[d.Name] = true
	}
	var problems []string
	for _, n := range names {
		if !has[n] {
			problems = append(problems, fmt.Sprintf("%q is not declared", n))
		}
	}
	rows, err := s.ListRules(ctx, nil)
	if err != nil {
		return fmt.Errorf("reading the stored rules: %w", err)
	}
	gone := map[string]bool{}
	for _, n := range names {
		gone[n] = true
	}
	for _, r := range rows {
		if gone[r.Metric] {
			problems = append(problems, fmt.Sprintf("the rule of %s names %s", rule.DescribeKey(r.Key()), r.Metric))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("nothing deleted: %s", strings.Join(problems, "; "))
	}
	reqs := make([]types.WriteRequest, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] { // a batch may not name an item twice
			seen[n] = true
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(fleetPK, table.SKMetricPrefix+n)}})
		}
	}
	return s.batchWrite(ctx, reqs)
}

// metricStorable checks that DynamoDB can hold a declared metric's numbers (as storable does a
// rule's).
func metricStorable(d reading.Declared) error {
	for name, v := range map[string]float64{"min": d.Min, "max": d.Max, "floor": d.Floor} {
		if a := math.Abs(v); a > 9.99e125 || a != 0 && a < 1e-130 {
			return fmt.Errorf("%s: %v is beyond what DynamoDB stores (1e-130 to 9.99e125)", name, v)
		}
	}
	return nil
}
