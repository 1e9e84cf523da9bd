package interop

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// newAccel makes an accel repo with the test profile (127.0.0.1 only,
// random ports, no bootstrap peers, no mDNS).
func newAccel(tb testing.TB) *node {
	tb.Helper()
	dir := tb.TempDir()
	n := &node{Daemon: daemontest.New(tb, "accel", accelBin, "ACCEL_PATH", dir), idArgs: []string{"id", "--json"}}
	n.Run("init", "--profile=test")
	return n
}

// startAccel starts an accel daemon on a new repo.
func startAccel(tb testing.TB) *node {
	tb.Helper()
	n := newAccel(tb)
	n.startAccelDaemon()
	return n
}

func (n *node) startAccelDaemon() {
	n.TB.Helper()
	n.Start("daemon")
	n.gateway = daemontest.HTTPURL(n.TB, n.WaitFile("gateway"))
}

// addStories adds the stories260K test model and returns its root CID.
func (n *node) addStories() string {
	n.TB.Helper()
	return daemontest.AddStories(n.TB, n.Bin, n.Dir, models)
}

// export writes the model at root as a CAR file and returns its path.
func (n *node) export(root string) string {
	n.TB.Helper()
	car := filepath.Join(n.TB.TempDir(), "model.car")
	n.Run("export", root, "-o", car)
	return car
}

// modelStat is the part of `accel stat --json` the tests read.
type modelStat struct {
	Root         string
	Size         int64
	Pinned       bool
	LocalBlocks  int `json:"local_blocks"`
	RemoteBlocks int `json:"remote_blocks"`
	Components   []struct {
		Name string
		CID  string
		Size int64
	}
}

func (n *node) stat(root string) modelStat {
	n.TB.Helper()
	var st modelStat
	if err := json.Unmarshal([]byte(n.Run("stat", root, "--json")), &st); err != nil {
		n.TB.Fatalf("accel stat --json: %v", err)
	}
	return st
}
