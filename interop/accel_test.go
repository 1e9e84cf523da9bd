package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newAccel makes an accel repo with the test profile (127.0.0.1 only,
// random ports, no bootstrap peers, no mDNS).
func newAccel(tb testing.TB) *node {
	tb.Helper()
	dir := tb.TempDir()
	n := &node{
		tb:     tb,
		name:   "accel",
		bin:    accelBin,
		dir:    dir,
		env:    append(os.Environ(), "ACCEL_PATH="+dir),
		idArgs: []string{"id", "--json"},
	}
	n.run("init", "--profile=test")
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
	n.tb.Helper()
	n.start("daemon")
	n.gateway = httpURL(n.tb, n.waitFile("gateway"))
}

// addStories adds the stories260K test model and returns its root CID.
func (n *node) addStories() string {
	n.tb.Helper()
	return strings.TrimSpace(n.run("add", "-q", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin")))
}

// export writes the model at root as a CAR file and returns its path.
func (n *node) export(root string) string {
	n.tb.Helper()
	car := filepath.Join(n.tb.TempDir(), "model.car")
	n.run("export", root, "-o", car)
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
	n.tb.Helper()
	var st modelStat
	if err := json.Unmarshal([]byte(n.run("stat", root, "--json")), &st); err != nil {
		n.tb.Fatalf("accel stat --json: %v", err)
	}
	return st
}
