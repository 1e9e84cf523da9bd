package daemontest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// EnvLlamaCpp names a llama.cpp build directory, one holding
// bin/llama-server, for the benchmarks that compare against it.
const EnvLlamaCpp = "LLAMA_CPP"

// LlamaServerBin is llama-server in the build directory $LLAMA_CPP, or ""
// when the variable is unset; it fails the test when the variable names a
// directory without it.
func LlamaServerBin(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(EnvLlamaCpp)
	if dir == "" {
		return ""
	}
	bin := filepath.Join(dir, "bin", "llama-server")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("%s=%s: %v", EnvLlamaCpp, dir, err)
	}
	return bin
}

// LlamaServer is a running llama.cpp llama-server.
type LlamaServer struct {
	URL string // http://127.0.0.1:PORT
	Log *Log   // its output, stdout and stderr together

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartLlamaServer runs the llama-server bin on 127.0.0.1, on a free port,
// with args (the model and its settings), and waits until its /health
// answers 200. Stop, or the test's end, ends it.
func StartLlamaServer(tb testing.TB, bin string, args ...string) *LlamaServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &LlamaServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), Log: &Log{ready: make(chan struct{})}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(port)}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.Log, s.Log
	s.cmd.SysProcAttr = dieWithParent()
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("llama-server: %v", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	tb.Cleanup(s.Stop)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-s.exited:
			tb.Fatalf("llama-server exited before it was ready: %v\n%s", s.cmd.ProcessState, s.Log.Tail(4000))
		default:
		}
		if resp, err := http.Get(s.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("llama-server not ready after two minutes:\n%s", s.Log.Tail(4000))
		}
	}
}

// Stop ends the server with SIGTERM, or SIGKILL after 10 s, and waits for
// it to exit.
func (s *LlamaServer) Stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}
