package importrules

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/iotwatch/iotwatch/"

// rule: the packages under `from` must not depend (directly or not) on any path with a prefix
// in `never`; where `only` is set, every non-standard dependency must have a prefix in it.
type rule struct {
	from  string
	never []string
	only  []string
	why   string
}

var (
	sdk   = []string{"github.com/aws/aws-sdk-go-v2", "github.com/aws/aws-lambda-go", "github.com/aws/smithy-go"}
	cgo   = []string{"github.com/duckdb/"}
	mqtt  = []string{"github.com/mochi-mqtt/", "github.com/eclipse/paho.mqtt.golang"}
	local = []string{module + "shared/local/"}
	// The CDK app's own dependencies.
	cdk = []string{"github.com/aws/aws-cdk-go/", "github.com/aws/constructs-go/", "github.com/aws/jsii-runtime-go",
		"github.com/cdklabs/", "github.com/Masterminds/semver/"}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var rules = []rule{
	{from: "shared/domain/", only: []string{module + "shared/domain/"},
		why: "the domain imports nothing but the standard library and itself"},
	{from: "shared/contract/", only: []string{module + "shared/contract/"},
		why: "the contracts (lake, table, topic, function environment, EMF) stand alone"},
	{from: "shared/service/", only: []string{module + "shared/domain/", module + "shared/contract/", module + "shared/service/", "golang.org/x/sync/"},
		why: "the services know the domain, the contracts and each other, no transport, no SDK, no engine"},
	{from: "functions/", never: concat(local, cgo, mqtt, []string{module + "shared/testsupport/", module + "shared/tools/"}),
		why: "a Lambda links no local stand-in, no DuckDB (cgo), no MQTT, no test support"},
	{from: "shared/local/", never: concat(sdk, []string{module + "shared/aws/"}),
		why: "the one-machine pipeline runs with no cloud: it links no AWS SDK"},
	{from: "shared/local/lakeview", never: []string{module + "shared/local/dashboard"},
		why: "the lake reader serves no pages: the pages depend on it, not the other way round"},
	{from: "shared/aws/", never: concat(local, cgo, mqtt),
		why: "the AWS adapters know nothing of the local stand-ins"},
	{from: "shared/tools/", never: concat(local, sdk, cgo, []string{module + "shared/aws/"}),
		why: "the tools (backtest, replay, simulate) take their sources as interfaces: no AWS or local adapter"},
	// The stack knows the contracts (names, keys, formats) and, as named exceptions, the services'
	// defaults it passes to the functions (aggregate.DefaultConfig, aggregate.IcebergTables,
	// evaluator.DefaultConfig) with what those need: never an adapter, the SDK or an engine.
	{from: "infra", only: concat(cdk, []string{module + "infra", module + "shared/contract/", module + "shared/domain/",
		module + "shared/service/aggregate", module + "shared/service/evaluator", "golang.org/x/sync/"}),
		why: "the stack knows the contracts; named exceptions: the services' defaults"},
	{from: "", never: []string{module + "shared/testsupport/", "net/http/httptest"},
		why: "only tests import test support and httptest"},
}

func TestImportDirection(t *testing.T) {
	statSources(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Deps " "}}`, module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	checked := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		rel := strings.TrimPrefix(pkg, module)
		if strings.HasPrefix(rel, "shared/testsupport/") {
			continue
		}
		for _, r := range rules {
			if !strings.HasPrefix(rel, r.from) {
				continue
			}
			checked[r.from]++
			for _, d := range strings.Fields(deps) {
				if hasPrefix(d, r.never) {
					t.Errorf("%s depends on %s: %s", rel, d, r.why)
				}
				if standard(d) {
					continue
				}
				if r.only != nil && !hasPrefix(d, r.only) {
					t.Errorf("%s depends on %s: %s", rel, d, r.why)
				}
			}
		}
	}
	for _, r := range rules {
		if checked[r.from] == 0 {
			t.Errorf("no package under %q: the rule checks nothing (was a folder renamed?)", r.from)
		}
	}
}

// statSources looks at every Go file of the module, so that go test's cache, which does not see
// what the go list subprocess reads, reruns this test when any of them changes.
func statSources(t *testing.T) {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	dir := filepath.Dir(strings.TrimSpace(string(root)))
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != dir || d.Name() == "cdk.out") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") || d.Name() == "go.mod" {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
