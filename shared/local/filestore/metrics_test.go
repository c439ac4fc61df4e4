package filestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCatalogAndRulesReloadTogether: the metrics catalog a run follows and its rules file are
// checked as one edit: a catalog that drops a metric a rule names is refused (both kept), and
// taken once the rules file drops the rule too; a rules edit naming an undeclared metric is
// refused; a consistent edit of both at once is taken.
func TestCatalogAndRulesReloadTogether(t *testing.T) {
	dir := t.TempDir()
	th := filepath.Join(dir, "t.csv")
	f := &filed{rules: filepath.Join(dir, "rules.csv"), devices: filepath.Join(dir, "devices.csv")}
	metrics := filepath.Join(dir, "metrics.csv")
	f.write(t, th, hdr)
	f.write(t, metrics, "name,unit,min,max\npm25,µg/m³,0,1000\nvoc,ppb,0,60000\n")
	f.write(t, f.rules, "user_id,scope,metric,rule,warning\nops,fleet,pm25,high,35\n")
	s, err := Open(th, "", filepath.Join(dir, "state"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	f.Store = s
	require.NoError(t, s.UseMetrics(metrics))
	require.NoError(t, s.UseRules(f.rules))
	ctx := context.Background()
	declared := func() []string {
		cat, err := s.Catalog(ctx)
		require.NoError(t, err)
		var out []string
		for _, d := range cat.Declared() {
			out = append(out, d.Name)
		}
		return out
	}
	rules := func() []string {
		var out []string
		for _, r := range s.mem.Rows {
			out = append(out, r.Metric)
		}
		return out
	}
	require.Equal(t, []string{"pm25", "voc"}, declared())

	f.write(t, metrics, "name,unit,min,max\nvoc,ppb,0,60000\n") // drops pm25, which a rule names
	s.Reload()
	assert.Equal(t, []string{"pm25", "voc"}, declared(), "refused: the rule names pm25")
	f.write(t, f.rules, "user_id,scope,metric,rule,warning\nops,fleet,voc,high,500\n") // the rule goes too
	s.Reload()
	assert.Equal(t, []string{"voc"}, declared(), "taken with the rules file's edit")
	assert.Equal(t, []string{"voc"}, rules())

	f.write(t, f.rules, "user_id,scope,metric,rule,warning\nops,fleet,pm25,high,35\n") // pm25 is not declared
	s.Reload()
	assert.Equal(t, []string{"voc"}, rules(), "refused: pm25 is not declared")

	f.write(t, metrics, "name,unit,min,max\npower_w,W,0,100000\n") // both at once, consistent
	f.write(t, f.rules, "user_id,scope,metric,rule,warning\nops,fleet,power_w,high,5000\n")
	s.Reload()
	assert.Equal(t, []string{"power_w"}, declared())
	assert.Equal(t, []string{"power_w"}, rules())
}
