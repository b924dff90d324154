package aggregates_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// domainPackages must not depend on NATS: they see the log only through
// package events and the interfaces they define (aggregates.Store). Adding
// a package to the check is one line here.
var domainPackages = []string{
	"github.com/ccm-ledger/ccm-ledger/events",
	"github.com/ccm-ledger/ccm-ledger/aggregates",
	"github.com/ccm-ledger/ccm-ledger/projections",
	"github.com/ccm-ledger/ccm-ledger/projections/compliance",
}

// natsHome is where the adapters to NATS live; cmd wires them. No other
// package of the module may import NATS.
var natsHome = []string{
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/",
	"github.com/ccm-ledger/ccm-ledger/cmd/",
}

// forbiddenDeps are the import paths (a trailing "/" means every path
// under it) a domain package may not depend on, directly or not, and why.
var forbiddenDeps = map[string]string{
	"github.com/nats-io/":    "only the adapters under deploy/jetstream and cmd import NATS",
	"github.com/synadia-io/": "NATS extensions belong with the JetStream adapter",
	"testing":                "test support does not belong in the domain packages' code",
}

// goDeps lists the packages pkg depends on (itself included), as
// `go list -deps` reports them, with the go command of this toolchain.
func goDeps(t *testing.T, pkg string) []string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if runtime.GOOS == "windows" {
		goTool += ".exe"
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("%s list -deps %s: %v\n%s", goTool, pkg, err, ee.Stderr)
	}
	require.NoError(t, err, "%s list -deps %s", goTool, pkg)
	return strings.Fields(string(out))
}

// badDeps returns, sorted, each dependency in deps that forbiddenDeps
// forbids, with the reason.
func badDeps(deps []string) []string {
	var bad []string
	for _, dep := range deps {
		for p, why := range forbiddenDeps {
			if dep == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(dep, p)) {
				bad = append(bad, dep+": "+why)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func TestDomainPackagesDoNotDependOnNATS(t *testing.T) {
	for _, pkg := range domainPackages {
		t.Run(pkg, func(t *testing.T) {
			deps := goDeps(t, pkg)
			require.Contains(t, deps, pkg, "go list -deps lists the package itself")
			assert.Empty(t, badDeps(deps), "forbidden dependencies of %s", pkg)
		})
	}
}

// TestDependencyCheckFindsNATS shows that the check can fail: the
// JetStream adapter depends on NATS and is caught.
func TestDependencyCheckFindsNATS(t *testing.T) {
	bad := badDeps(goDeps(t, "github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"))
	assert.NotEmpty(t, bad, "deploy/jetstream/jslog imports nats.go; the check must see it")
	var found bool
	for _, b := range bad {
		found = found || strings.HasPrefix(b, "github.com/nats-io/nats.go/jetstream:")
	}
	assert.True(t, found, "github.com/nats-io/nats.go/jetstream among %v", bad)
}

// TestNATSLivesInOneTree checks every package of the module: those that
// import NATS are under deploy/jetstream (or are commands).
func TestNATSLivesInOneTree(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/ccm-ledger/ccm-ledger/...").Output()
	require.NoError(t, err)
	var outside []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		home := false
		for _, h := range natsHome {
			home = home || strings.HasPrefix(pkg, h)
		}
		for _, imp := range imports {
			if !home && (strings.HasPrefix(imp, "github.com/nats-io/") || strings.HasPrefix(imp, "github.com/synadia-io/")) {
				outside = append(outside, pkg+" imports "+imp)
			}
		}
	}
	assert.Empty(t, outside, "NATS imported outside deploy/jetstream and cmd")
}
