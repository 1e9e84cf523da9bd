package interop

import (
	"encoding/json"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

const models = "../../shared/models"

var (
	accelBin string // cmd/accel: $ACCEL_BIN, else built by TestMain
	kuboBin  string // Kubo's ipfs, "" when not installed
)

func TestMain(m *testing.M) {
	remove := func() {}
	accelBin = os.Getenv("ACCEL_BIN") // a machine without Go runs a binary built elsewhere
	if accelBin == "" {
		accelBin, remove = daemontest.BuildAccel("../cmd/accel")
	}
	kuboBin = findKubo()
	code := m.Run()
	remove()
	os.Exit(code)
}

// findKubo returns $KUBO_BIN, else $GOPATH/bin/ipfs, if the file exists,
// else "".
func findKubo() string {
	p := os.Getenv("KUBO_BIN")
	if p == "" {
		p = filepath.Join(build.Default.GOPATH, "bin", "ipfs")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// needKubo skips the test when Kubo is not installed, or fails it when
// ACCEL_REQUIRE_KUBO=1.
func needKubo(tb testing.TB) {
	tb.Helper()
	if kuboBin != "" {
		return
	}
	msg := "Kubo not found: set KUBO_BIN or run scripts/install-kubo.sh"
	if os.Getenv("ACCEL_REQUIRE_KUBO") == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func needModels(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		tb.Skipf("test models not present: %v", err)
	}
}

// node is an accel or Kubo repo and, once started, its daemon.
type node struct {
	*daemontest.Daemon
	idArgs  []string // the command that prints the peer ID and addresses as JSON
	gateway string   // http://127.0.0.1:PORT of the running daemon's gateway
}

// identity is what `ipfs id` and `accel id --json` print.
type identity struct {
	ID        string
	Addresses []string
}

func (n *node) id() identity {
	n.TB.Helper()
	var id identity
	if err := json.Unmarshal([]byte(n.Run(n.idArgs...)), &id); err != nil {
		n.TB.Fatalf("%s %v: %v", n.Name, n.idArgs, err)
	}
	return id
}

// swarmAddr is the node's loopback TCP multiaddr, with /p2p/ID.
func (n *node) swarmAddr() string {
	n.TB.Helper()
	id := n.id()
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.Contains(a, "/ws") && strings.HasSuffix(a, "/p2p/"+id.ID) {
			return a
		}
	}
	n.TB.Fatalf("%s has no loopback TCP address among %q", n.Name, id.Addresses)
	return ""
}

// connect dials other from n.
func (n *node) connect(other *node) {
	n.TB.Helper()
	n.Run("swarm", "connect", other.swarmAddr())
}
