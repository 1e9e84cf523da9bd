package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const models = "../../shared/models"

var (
	accelBin string // cmd/accel, built by TestMain
	kuboBin  string // Kubo's ipfs, "" when not installed
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "accel-interop")
	if err != nil {
		panic(err)
	}
	accelBin = filepath.Join(dir, "accel")
	build := exec.Command("go", "build", "-o", accelBin, "./cmd/accel")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building accel: " + err.Error() + "\n" + string(out))
	}
	kuboBin = findKubo()
	code := m.Run()
	os.RemoveAll(dir)
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

// cmdTimeout bounds every CLI command, so that a stuck fetch fails the
// test instead of hanging it.
const cmdTimeout = 5 * time.Minute

// node is a repo and, once started, its daemon process: a Kubo node or
// an accel node. The CLI commands run against the repo, through the
// daemon's RPC API while it runs.
type node struct {
	tb      testing.TB
	name    string   // "kubo" or "accel", for messages
	bin     string   // the CLI
	dir     string   // the repo: IPFS_PATH or ACCEL_PATH
	env     []string // the CLI's environment
	idArgs  []string // the command that prints the peer ID and addresses as JSON
	gateway string   // http://127.0.0.1:PORT of the running daemon's gateway

	daemon *exec.Cmd
	log    *daemonLog
	exited chan struct{} // closed when the daemon exits
}

// run runs the CLI with args and returns its stdout, failing the test on
// an error.
func (n *node) run(args ...string) string {
	n.tb.Helper()
	out, err := n.try(args...)
	if err != nil {
		if n.log != nil {
			n.tb.Fatalf("%v\n%s daemon's log ends:\n%s", err, n.name, n.log.tail(2000))
		}
		n.tb.Fatal(err)
	}
	return out
}

// try runs the CLI with args and returns its stdout, or an error that
// holds its stderr.
func (n *node) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin, args...)
	cmd.Env = n.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", n.name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// start runs the daemon and waits until it prints "Daemon is ready" and
// has written its api file. The test's cleanup stops it.
func (n *node) start(args ...string) {
	n.tb.Helper()
	n.log = &daemonLog{ready: make(chan struct{})}
	n.daemon = exec.Command(n.bin, args...)
	n.daemon.Env = n.env
	n.daemon.Stdout, n.daemon.Stderr = n.log, n.log
	n.daemon.SysProcAttr = daemonAttr()
	if err := n.daemon.Start(); err != nil {
		n.tb.Fatalf("%s daemon: %v", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		n.daemon.Wait()
		close(n.exited)
	}()
	n.tb.Cleanup(n.stop)
	select {
	case <-n.log.ready:
	case <-n.exited:
		n.tb.Fatalf("%s daemon exited: %v\n%s", n.name, n.daemon.ProcessState, n.log)
	case <-time.After(time.Minute):
		n.tb.Fatalf("%s daemon not ready after a minute:\n%s", n.name, n.log)
	}
	n.waitFile("api")
}

// stop ends the daemon with SIGTERM, or SIGKILL if it lingers.
func (n *node) stop() {
	if n.daemon == nil {
		return
	}
	n.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		n.tb.Errorf("%s daemon ignored SIGTERM for 15 s; killing it", n.name)
		n.daemon.Process.Kill()
		<-n.exited
	}
	n.daemon = nil
}

// waitFile waits for the daemon to write the named file in its repo and
// returns its contents.
func (n *node) waitFile(name string) string {
	n.tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(n.dir, name))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b))
		}
		if time.Now().After(deadline) {
			n.tb.Fatalf("%s daemon is ready but wrote no %s file: %v\n%s", n.name, name, err, n.log)
		}
	}
}

// identity is what `ipfs id` and `accel id --json` print.
type identity struct {
	ID        string
	Addresses []string
}

func (n *node) id() identity {
	n.tb.Helper()
	var id identity
	if err := json.Unmarshal([]byte(n.run(n.idArgs...)), &id); err != nil {
		n.tb.Fatalf("%s %v: %v", n.name, n.idArgs, err)
	}
	return id
}

// swarmAddr is the node's loopback TCP multiaddr, with /p2p/ID.
func (n *node) swarmAddr() string {
	n.tb.Helper()
	id := n.id()
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.Contains(a, "/ws") && strings.HasSuffix(a, "/p2p/"+id.ID) {
			return a
		}
	}
	n.tb.Fatalf("%s has no loopback TCP address among %q", n.name, id.Addresses)
	return ""
}

// connect dials other from n.
func (n *node) connect(other *node) {
	n.tb.Helper()
	n.run("swarm", "connect", other.swarmAddr())
}

// httpURL turns /ip4/A/tcp/P into http://A:P.
func httpURL(tb testing.TB, maddr string) string {
	tb.Helper()
	f := strings.Split(maddr, "/")
	if len(f) < 5 || f[1] != "ip4" || f[3] != "tcp" {
		tb.Fatalf("gateway address %q is not /ip4/…/tcp/…", maddr)
	}
	return "http://" + f[2] + ":" + f[4]
}

// daemonLog collects a daemon's output and notices when it is ready.
type daemonLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.seen && bytes.Contains(l.buf.Bytes(), []byte("Daemon is ready")) {
		l.seen = true
		close(l.ready)
	}
	return len(p), nil
}

func (l *daemonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail returns the last n bytes of the log.
func (l *daemonLog) tail(n int) string {
	s := l.String()
	return s[max(0, len(s)-n):]
}

// lines returns the daemon's output lines that start with prefix, less it.
func (l *daemonLog) lines(prefix string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if s, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}
