package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/reading"
	"github.com/iotwatch/iotwatch/shared/domain/rule"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// rulePK is the partition of a row of scope sc: the device's own, or its scope's
// (table.RulesPKPrefix).
func rulePK(sc rule.Scope) string {
	if sc.Kind == rule.Device {
		return sc.Name
	}
	return table.RulesPKPrefix + sc.String()
}

// ruleSK is the sort key of a row: RULE#<user>#<metric>#<rule>.
func ruleSK(k rule.Key) string {
	return table.SKRulePrefix + k.UserID + "#" + k.Metric + "#" + k.Kind.String()
}

// ruleItem is a RULE item: the row's cells as number attributes named as the rules file's
// columns (only those set), its scope, metric and rule as strings, and its version.
func ruleItem(r rule.Row) map[string]types.AttributeValue {
	item := key(rulePK(r.Scope), ruleSK(r.Key()))
	item["user_id"] = &types.AttributeValueMemberS{Value: r.UserID}
	item["scope"] = &types.AttributeValueMemberS{Value: r.Scope.String()}
	item["rule"] = &types.AttributeValueMemberS{Value: r.Kind.String()}
	if r.Metric != "" {
		item["metric"] = &types.AttributeValueMemberS{Value: r.Metric}
	}
	for name, v := range map[string]threshold.Value{"warning": r.Warning, "violation": r.Violation, "hysteresis": r.Hysteresis, "floor": r.Floor} {
		if v.Set {
			item[name] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(v.V, 'g', -1, 64)}
		}
	}
	for name, n := range map[string]int64{"sustain_seconds": r.SustainSeconds, "remind_seconds": r.RemindSeconds} {
		if n != 0 {
			item[name] = &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
		}
	}
	item["version"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Version, 10)}
	return item
}

// ruleFromItem reads a RULE item and validates its row as a file's would be.
func ruleFromItem(item map[string]types.AttributeValue, metrics rule.Metrics) (rule.Row, error) {
	k, err := rule.ParseKey(str(item["user_id"]), str(item["scope"]), str(item["metric"]), str(item["rule"]), metrics)
	if err != nil {
		return rule.Row{}, err
	}
	r := rule.Row{UserID: k.UserID, Scope: k.Scope, Metric: k.Metric, Kind: k.Kind}
	var errs []error
	for name, v := range map[string]*threshold.Value{"warning": &r.Warning, "violation": &r.Violation, "hysteresis": &r.Hysteresis, "floor": &r.Floor} {
		errs = append(errs, numberAttr(item, name, v))
	}
	for name, v := range map[string]*int64{"sustain_seconds": &r.SustainSeconds, "remind_seconds": &r.RemindSeconds, "version": &r.Version} {
		errs = append(errs, wholeAttr(item, name, v))
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	return r, r.Validate(metrics)
}

// storedMetrics is what a stored rule may name when read back: any well-formed metric name (it
// was checked against the catalog when written; one the catalog no longer declares never fires).
var storedMetrics = rule.WellFormed{}

// scopeRead is what a Query of a scope's partition holds: its rows, and for the fleet the
// metrics catalog.
type scopeRead struct {
	rows []rule.Row
	cat  *reading.Catalog
}

// scopeRows reads the rows of a location or of the fleet (with the catalog): from the cache while
// they were read less than s.RulesCache ago, else with a Query of their partition (one at a time
// per scope: the devices of a batch that wait for the same scope share the read). It returns
// when they were read.
func (s *Store) scopeRows(ctx context.Context, sc rule.Scope) (scopeRead, time.Time, error) {
	now := s.now()
	if s.RulesCache <= 0 {
		read, err := s.queryScope(ctx, sc)
		return read, now, err
	}
	return s.rules.get(ctx, sc, now, s.RulesCache, func(ctx context.Context) (scopeRead, error) {
		return s.queryScope(ctx, sc)
	})
}

// Catalog implements evaluator.Store: the fleet's partition holds it, read with the fleet's rows
// (and cached with them: table.RulesCacheBound).
func (s *Store) Catalog(ctx context.Context) (*reading.Catalog, error) {
	read, _, err := s.scopeRows(ctx, rule.Scope{Kind: rule.Fleet})
	if err != nil {
		return nil, fmt.Errorf("reading the metrics catalog: %w", err)
	}
	return read.cat, nil
}

// queryScope reads a scope's partition: the fleet's whole (its rows and the catalog), a
// location's RULE items.
func (s *Store) queryScope(ctx context.Context, sc rule.Scope) (scopeRead, error) {
	if sc.Kind != rule.Fleet {
		rows, err := s.queryRules(ctx, rulePK(sc))
		return scopeRead{rows: rows}, err
	}
	var read scopeRead
	var declared []reading.Declared
	err := s.queryPartition(ctx, rulePK(sc), "", func(item map[string]types.AttributeValue) error {
		switch sk := str(item[SK]); {
		case strings.HasPrefix(sk, table.SKRulePrefix):
			r, err := ruleFromItem(item, storedMetrics)
			if err != nil {
				return fmt.Errorf("reading rule %s: %w", sk, err)
			}
			read.rows = append(read.rows, r)
		case strings.HasPrefix(sk, table.SKMetricPrefix):
			d, err := metricFromItem(item)
			if err != nil {
				return fmt.Errorf("reading metric %s: %w", sk, err)
			}
			declared = append(declared, d)
		}
		return nil
	})
	if err != nil {
		return scopeRead{}, err
	}
	if read.rows == nil {
		read.rows = []rule.Row{}
	}
	if len(declared) > 0 {
		if read.cat, err = reading.NewCatalog(declared); err != nil {
			return scopeRead{}, fmt.Errorf("the stored metrics catalog: %w", err)
		}
	}
	return read, nil
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// queryRules reads the RULE items of one partition.
func (s *Store) queryRules(ctx context.Context, pk string) ([]rule.Row, error) {
	rows := []rule.Row{}
	err := s.queryPartition(ctx, pk, table.SKRulePrefix, func(item map[string]types.AttributeValue) error {
		r, err := ruleFromItem(item, storedMetrics)
		if err != nil {
			return fmt.Errorf("reading rule %s: %w", str(item[SK]), err)
		}
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

// queryPartition calls each with every item of partition pk whose sort key starts with prefix
// (every item when prefix is ""), with a strongly consistent Query, page after page.
func (s *Store) queryPartition(ctx context.Context, pk, prefix string, each func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
		in.ExpressionAttributeNames["#sk"] = SK
		in.ExpressionAttributeValues[":prefix"] = &types.AttributeValueMemberS{Value: prefix}
	}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("querying %s: %w", pk, err)
		}
		for _, item := range out.Items {
			if err := each(item); err != nil {
				return fmt.Errorf("%s: %w", pk, err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ListRules returns the rows of one scope (sc not nil: one Query of its partition) or of every
// scope (a Scan of the RULE items: for the operators' CLI; the functions never scan): the
// fleet's first, then the locations', then the devices', each by user, metric and rule.
func (s *Store) ListRules(ctx context.Context, sc *rule.Scope) ([]rule.Row, error) {
	var rows []rule.Row
	if sc != nil {
		var err error
		if rows, err = s.queryRules(ctx, rulePK(*sc)); err != nil {
			return nil, err
		}
	} else {
		in := &dynamodb.ScanInput{
			TableName:                 &s.table,
			ConsistentRead:            aws.Bool(true), // PutRules versions and limits are judged on it
			FilterExpression:          aws.String("begins_with(#sk, :rule)"),
			ExpressionAttributeNames:  map[string]string{"#sk": SK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":rule": &types.AttributeValueMemberS{Value: table.SKRulePrefix}},
		}
		for {
			out, err := s.client.Scan(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("scanning the rules: %w", err)
			}
			for _, item := range out.Items {
				r, err := ruleFromItem(item, storedMetrics)
				if err != nil {
					return nil, fmt.Errorf("reading rule %s of %s: %w", str(item[SK]), str(item[PK]), err)
				}
				rows = append(rows, r)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	sort.Slice(rows, func(i, j int) bool { return lessKey(rows[i].Key(), rows[j].Key()) })
	return rows, nil
}

func lessKey(a, b rule.Key) bool {
	if a.Scope != b.Scope {
		if a.Scope.Kind != b.Scope.Kind {
			return a.Scope.Kind < b.Scope.Kind
		}
		return a.Scope.Name < b.Scope.Name
	}
	if a.UserID != b.UserID {
		return a.UserID < b.UserID
	}
	if a.Metric != b.Metric {
		return a.Metric < b.Metric
	}
	return a.Kind < b.Kind
}

// PutRules writes rows (validated by the caller) over what the table holds: a row of the same
// (user, scope, metric, rule) is replaced, keeping its version when nothing changed and taking
// the next when something did (1 when new). It reads every stored row first (ListRules), and
// refuses, writing nothing, rows that would take a user or a scope past rule.Check's limits.
func (s *Store) PutRules(ctx context.Context, rows []rule.Row) error {
	var bad []error
	for i, r := range rows {
		if err := storable(r); err != nil {
			bad = append(bad, fmt.Errorf("row %d: %w", i+1, err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing written:\n%w", errors.Join(bad...))
	}
	declared, err := s.ListMetrics(ctx)
	if err != nil {
		return err
	}
	cat, err := reading.NewCatalog(declared)
	if err != nil {
		return fmt.Errorf("the stored metrics catalog: %w", err)
	}
	for i, r := range rows {
		if r.Kind != rule.Silent && !cat.Known(r.Metric) {
			bad = append(bad, fmt.Errorf("row %d: metric: %q is neither a built-in metric nor one the table's catalog declares (iotwatch metrics put)", i+1, r.Metric))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing written:\n%w", errors.Join(bad...))
	}
	stored, err := s.ListRules(ctx, nil)
	if err != nil {
		return fmt.Errorf("reading the stored rules: %w", err)
	}
	merged, keys := rule.Upsert(stored, rows)
	if err := rule.Check(merged, func(i int) string {
		if j, ok := keys[merged[i].Key()]; ok {
			return fmt.Sprintf("row %d", j+1)
		}
		return "a stored row"
	}); err != nil {
		return fmt.Errorf("the table would break the limits, nothing written:\n%w", err)
	}
	reqs := make([]types.WriteRequest, 0, len(rows))
	for _, r := range rule.Versioned(stored, rows) {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: ruleItem(r)}})
	}
	return s.batchWrite(ctx, reqs)
}

// DeleteRules removes the rows of keys. A key with no row refuses the whole call, nothing
// deleted (a typing error should not half-apply).
func (s *Store) DeleteRules(ctx context.Context, keys []rule.Key) error {
	keys = uniqueKeys(keys) // a batch may not name an item twice
	held := map[rule.Key]bool{}
	read := map[rule.Scope]bool{}
	for _, k := range keys {
		if read[k.Scope] {
			continue
		}
		read[k.Scope] = true
		rows, err := s.queryRules(ctx, rulePK(k.Scope))
		if err != nil {
			return err
		}
		for _, r := range rows {
			held[r.Key()] = true
		}
	}
	var missing []string
	reqs := make([]types.WriteRequest, 0, len(keys))
	for _, k := range keys {
		if !held[k] {
			missing = append(missing, rule.DescribeKey(k))
			continue
		}
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(rulePK(k.Scope), ruleSK(k))}})
	}
	if len(missing) > 0 {
		return fmt.Errorf("no such rule, nothing deleted: %s", strings.Join(missing, "; "))
	}
	return s.batchWrite(ctx, reqs)
}

// uniqueKeys is keys without repeats, in order.
func uniqueKeys(keys []rule.Key) []rule.Key {
	seen := make(map[rule.Key]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// storable checks that DynamoDB can hold a row's numbers: its number type spans 1e-130 to
// 9.99e125 in magnitude, and a put that a later call of the batch would refuse half-applies.
func storable(r rule.Row) error {
	for name, v := range map[string]threshold.Value{"warning": r.Warning, "violation": r.Violation, "hysteresis": r.Hysteresis, "floor": r.Floor} {
		if a := math.Abs(v.V); v.Set && (a > 9.99e125 || a != 0 && a < 1e-130) {
			return fmt.Errorf("%s: %v is beyond what DynamoDB stores (1e-130 to 9.99e125)", name, v.V)
		}
	}
	return nil
}

// rulesCache holds the rows of the locations and the fleet, each with when it was read; one read
// at a time per scope.
type rulesCache struct {
	mu sync.Mutex
	m  map[rule.Scope]*scopeEntry
}

type scopeEntry struct {
	done chan struct{} // closed once read and err are set
	at   time.Time     // when the read began
	read scopeRead
	err  error
}

func (c *rulesCache) get(ctx context.Context, sc rule.Scope, now time.Time, bound time.Duration,
	load func(context.Context) (scopeRead, error)) (scopeRead, time.Time, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[rule.Scope]*scopeEntry{}
	}
	if e := c.m[sc]; e != nil && now.Sub(e.at) < bound {
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return scopeRead{}, time.Time{}, ctx.Err()
		}
		if e.err != nil {
			return scopeRead{}, time.Time{}, e.err
		}
		return e.read, e.at, nil
	}
	e := &scopeEntry{done: make(chan struct{}), at: now}
	c.m[sc] = e
	c.mu.Unlock()
	e.read, e.err = load(ctx)
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.m[sc] == e {
			delete(c.m, sc) // the next device tries again
		}
		c.mu.Unlock()
		return scopeRead{}, time.Time{}, e.err
	}
	return e.read, e.at, nil
}
