package interop

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// newKubo makes a Kubo repo with the test profile (TCP on 127.0.0.1 with
// random ports, no bootstrap peers, no mDNS, no AutoTLS or AutoConf) and
// the unixfs-v1-2025 import profile (CIDv1, raw leaves, 1 MiB chunks,
// 1024 links per node: the layout of accel's components).
func newKubo(tb testing.TB) *node {
	tb.Helper()
	needKubo(tb)
	dir := tb.TempDir()
	n := &node{Daemon: daemontest.New(tb, "kubo", kuboBin, "IPFS_PATH", dir, "IPFS_TELEMETRY=off"), idArgs: []string{"id"}}
	n.Run("init", "--empty-repo", "--profile=test,unixfs-v1-2025")
	return n
}

// startKubo starts a Kubo daemon on a new repo.
func startKubo(tb testing.TB) *node {
	tb.Helper()
	n := newKubo(tb)
	n.Start("daemon")
	gw := n.Log().Lines("Gateway server listening on ")
	if len(gw) == 0 {
		tb.Fatalf("kubo daemon printed no gateway address:\n%s", n.Log())
	}
	n.gateway = daemontest.HTTPURL(tb, gw[0])
	return n
}

// dagImport imports a CAR into Kubo and returns the roots it pinned.
func (n *node) dagImport(car string) []string {
	n.TB.Helper()
	var roots []string
	for _, line := range strings.Split(strings.TrimSpace(n.Run("dag", "import", "--enc=json", car)), "\n") {
		var out struct {
			Root *struct {
				Cid struct {
					Slash string `json:"/"`
				}
				PinErrorMsg string
			}
		}
		if err := json.Unmarshal([]byte(line), &out); err != nil {
			n.TB.Fatalf("ipfs dag import printed %q: %v", line, err)
		}
		if out.Root == nil {
			continue
		}
		if out.Root.PinErrorMsg != "" {
			n.TB.Fatalf("ipfs dag import: pinning %s: %s", out.Root.Cid.Slash, out.Root.PinErrorMsg)
		}
		roots = append(roots, out.Root.Cid.Slash)
	}
	return roots
}

// recursivePins lists Kubo's recursive pins.
func (n *node) recursivePins() []string {
	n.TB.Helper()
	return strings.Fields(n.Run("pin", "ls", "--type=recursive", "-q"))
}
