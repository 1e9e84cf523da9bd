package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ipfs-accelerate/accel/"

// layers ranks the project's top-level packages, lowest first. The test
// helpers (internal, interop, browser/e2e) sit above all: only tests
// import them.
var layers = map[string]int{
	"inference":  0,
	"proto":      1,
	"loader":     2,
	"offload":    2,
	"transfer":   2,
	"blockstore": 2,
	"relay":      2,
	"browser":    2,
	"node":       3,
	"rpc":        4,
	"serve":      4,
	"cmd":        5,
	"internal":   6,
	"interop":    6,
}

// family is the top-level directory of pkg, or browser/e2e for the browser
// tests (test helpers, above every layer).
func family(pkg string) string {
	if strings.HasPrefix(pkg, "browser/e2e") {
		return "internal"
	}
	top, _, _ := strings.Cut(pkg, "/")
	return top
}

func TestImportsGoDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		from, ok := layers[family(pkg)]
		if !ok {
			t.Errorf("package %s is in no layer: add its directory to layers", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			imp, ours := strings.CutPrefix(imp, module)
			if !ours || family(imp) == family(pkg) {
				continue
			}
			if to := layers[family(imp)]; to >= from {
				t.Errorf("%s imports %s: a package imports only lower layers", pkg, imp)
			}
		}
	}
}

// The browser runtime downloads, compiles and starts every package it
// links before a page can load a model: it links no libp2p and none of
// boxo's block services, DAG services or importers (whose dependencies
// doubled its size), only the project's loader and inference.
func TestBrowserRuntimeStaysSmall(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", module+"browser/wasm")
	cmd.Env = append(cmd.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if strings.HasPrefix(pkg, "github.com/libp2p/") || strings.HasPrefix(pkg, "go.opentelemetry.io/") ||
			(strings.HasPrefix(pkg, "github.com/ipfs/boxo/") && pkg != "github.com/ipfs/boxo/util") {
			t.Errorf("the browser runtime links %s", pkg)
		}
	}
}
