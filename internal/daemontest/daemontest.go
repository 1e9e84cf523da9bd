// Package daemontest runs the daemons tests talk to: a repo, the CLI that
// works on it, and once started its daemon process — accel's, or Kubo's,
// whose command lines have the same shape and which print the same
// "Daemon is ready". For accel it also makes test-profile repos, starts
// daemons with the addresses tests dial, and adds the stories260K test
// model.
package daemontest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CmdTimeout bounds one CLI command.
const CmdTimeout = 5 * time.Minute

// Daemon is a repo, the CLI that works on it (through the daemon's RPC API
// while the daemon runs) and the daemon, once started; one never started
// is the repo's CLI alone. At most one daemon process runs at a time, and
// whatever runs is stopped when the test ends. A Daemon is not safe for
// concurrent use, except Run and Try.
type Daemon struct {
	TB   testing.TB
	Name string   // "accel" or "kubo", for messages
	Bin  string   // the CLI
	Dir  string   // the repo: ACCEL_PATH or IPFS_PATH
	Env  []string // the CLI's and the daemon's environment

	cmd    *exec.Cmd
	log    *Log
	exited chan struct{} // closed when the daemon exits
}

// New is a Daemon for the repo dir of the CLI bin, whose environment names
// the repo in pathVar (ACCEL_PATH, IPFS_PATH), with extra variables.
func New(tb testing.TB, name, bin, pathVar, dir string, extra ...string) *Daemon {
	env := append(os.Environ(), pathVar+"="+dir)
	return &Daemon{TB: tb, Name: name, Bin: bin, Dir: dir, Env: append(env, extra...)}
}

// Run runs the CLI with args and returns its stdout, failing the test on
// an error.
func (d *Daemon) Run(args ...string) string {
	d.TB.Helper()
	out, err := d.Try(args...)
	if err != nil {
		if d.log != nil {
			d.TB.Fatalf("%v\n%s daemon's log ends:\n%s", err, d.Name, d.log.Tail(2000))
		}
		d.TB.Fatal(err)
	}
	return out
}

// Try runs the CLI with args and returns its stdout, or an error that
// holds its stderr.
func (d *Daemon) Try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.Bin, args...)
	cmd.Env = d.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", d.Name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Start runs the daemon (the CLI with args) and waits until it prints
// "Daemon is ready" and has written its api file. The test's cleanup
// stops it.
func (d *Daemon) Start(args ...string) {
	d.TB.Helper()
	if d.cmd != nil {
		d.TB.Fatalf("%s daemon on %s started while it runs", d.Name, d.Dir)
	}
	d.log = &Log{ready: make(chan struct{})}
	d.cmd = exec.Command(d.Bin, args...)
	d.cmd.Env = d.Env
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = dieWithParent()
	if err := d.cmd.Start(); err != nil {
		d.TB.Fatalf("%s daemon: %v", d.Name, err)
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(d.cmd, d.exited)
	d.TB.Cleanup(d.Stop)
	select {
	case <-d.log.ready:
	case <-d.exited:
		d.TB.Fatalf("%s daemon on %s exited before it was ready: %v\n%s", d.Name, d.Dir, d.cmd.ProcessState, d.log)
	case <-time.After(time.Minute):
		d.TB.Fatalf("%s daemon on %s not ready after a minute:\n%s", d.Name, d.Dir, d.log)
	}
	d.WaitFile("api")
}

// Stop ends the daemon with SIGTERM, or SIGKILL if it lingers 15 s (an
// error of the test). A stopped daemon may be started again.
func (d *Daemon) Stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		d.cmd = nil
	case <-time.After(15 * time.Second):
		d.TB.Errorf("%s daemon on %s ignored SIGTERM for 15 s; killing it", d.Name, d.Dir)
		d.Kill()
	}
}

// Kill ends the daemon with SIGKILL, as a crash would. A killed daemon may
// be started again.
func (d *Daemon) Kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	<-d.exited
	d.cmd = nil
}

// Pid is the running daemon's process ID.
func (d *Daemon) Pid() int {
	d.TB.Helper()
	if d.cmd == nil {
		d.TB.Fatalf("%s daemon on %s is not running", d.Name, d.Dir)
	}
	return d.cmd.Process.Pid
}

// Log is the daemon's output, stdout and stderr together.
func (d *Daemon) Log() *Log { return d.log }

// WaitFile waits for the daemon to write the named file in its repo and
// returns its contents.
func (d *Daemon) WaitFile(name string) string {
	d.TB.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(d.Dir, name))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b))
		}
		if time.Now().After(deadline) {
			d.TB.Fatalf("%s daemon is ready but wrote no %s file: %v\n%s", d.Name, name, err, d.log)
		}
	}
}

// HTTPURL turns /ip4/A/tcp/P into http://A:P.
func HTTPURL(tb testing.TB, maddr string) string {
	tb.Helper()
	f := strings.Split(strings.TrimSpace(maddr), "/")
	if len(f) < 5 || f[1] != "ip4" || f[3] != "tcp" {
		tb.Fatalf("address %q is not /ip4/…/tcp/…", maddr)
	}
	return "http://" + f[2] + ":" + f[4]
}

// Log collects a daemon's output and notices when it is ready.
type Log struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.seen && bytes.Contains(l.buf.Bytes(), []byte("Daemon is ready")) {
		l.seen = true
		close(l.ready)
	}
	return len(p), nil
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail returns the last n bytes of the log.
func (l *Log) Tail(n int) string {
	s := l.String()
	return s[max(0, len(s)-n):]
}

// Lines returns the output lines that start with prefix, less it.
func (l *Log) Lines(prefix string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if s, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// CPUModel is lscpu's model name of this machine's CPU.
func CPUModel() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "lscpu").Output()
	if m := regexp.MustCompile(`(?m)^Model name:\s*(.+)$`).FindSubmatch(out); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return runtime.GOARCH
}
