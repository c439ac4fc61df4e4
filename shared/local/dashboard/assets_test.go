package dashboard

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotwatch/iotwatch/shared/testsupport/need"
)

// TestEmbeddedChartLibraryIsThePinnedPackage: the uPlot files embedded in the binary are the bytes
// of the version package.json pins, as npm installs it (make assets copies them).
func TestEmbeddedChartLibraryIsThePinnedPackage(t *testing.T) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	b, err := os.ReadFile("../../../package.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	assert.Equal(t, "1.6.32", pkg.DevDependencies["uplot"], "pin an exact version (assets/README.md names it)")
	installed, err := os.ReadFile("../../../node_modules/uplot/package.json")
	if os.IsNotExist(err) {
		need.Missing(t, need.NodeModules, "node_modules is not installed (npm ci; .ci/run does)")
	}
	require.NoError(t, err)
	var ver struct{ Version string }
	require.NoError(t, json.Unmarshal(installed, &ver))
	assert.Equal(t, pkg.DevDependencies["uplot"], ver.Version)
	for _, f := range []string{"uPlot.iife.min.js", "uPlot.min.css"} {
		want, err := os.ReadFile("../../../node_modules/uplot/dist/" + f)
		require.NoError(t, err)
		got, err := assetFS.ReadFile("assets/" + f)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "assets/%s is not node_modules/uplot/dist/%s: make assets", f, f)
	}
}
