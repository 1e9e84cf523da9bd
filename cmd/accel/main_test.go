package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/node"
)

const models = "../../../shared/models"

var accel string // the built binary

func TestMain(m *testing.M) {
	var remove func()
	accel, remove = daemontest.BuildAccel(".")
	code := m.Run()
	remove()
	os.Exit(code)
}

// run executes accel and returns stdout and stderr.
func run(t testing.TB, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(accel, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("accel %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

func needModels(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		t.Skipf("test models not present: %v", err)
	}
}

func TestRunStreamsTheReferenceStory(t *testing.T) {
	needModels(t)
	bin, stderr := run(t, "run", "--model", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin"), "--temp", "0", "-n", "256", "Once upon a time")
	if !strings.HasPrefix(bin, daemontest.StoryStart) {
		t.Fatalf("story starts %q", bin[:min(len(bin), 200)])
	}
	if !strings.Contains(stderr, "generated: 256 tokens") || !strings.Contains(stderr, "tokens/s") {
		t.Fatalf("stderr %q lacks the token count and rate", stderr)
	}
	gg, _ := run(t, "run", "--model", filepath.Join(models, "stories260K-f32.gguf"), "--temp", "0", "-n", "256", "Once upon a time")
	if gg != bin {
		t.Fatalf("GGUF story differs from the llama2.c one:\n%s\n---\n%s", gg, bin)
	}
}

func TestRunErrors(t *testing.T) {
	needModels(t)
	for _, args := range [][]string{
		{"run", "--model", filepath.Join(models, "stories260K.bin"), "hi"},                                // no tokenizer
		{"run", "--model", filepath.Join(models, "missing.gguf"), "hi"},                                   // no file
		{"run", "--model", filepath.Join(models, "stories260K-f32.gguf"), "--precision", "int5g32", "hi"}, // bad precision
		{"run", "hi"}, // no model
	} {
		cmd := exec.Command(accel, args...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Error:") || strings.Contains(string(out), "panic") {
			t.Errorf("accel %v: err %v, output %q", args, err, out)
		}
	}
}

func TestSynthBenchAndPrecision(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tiny.gguf")
	run(t, "synth", "-o", file, "--type", "Q8_0", "--dim", "128", "--ffn", "256", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", "512", "--context", "128")
	out, _ := run(t, "bench", "--model", file, "--threads", "1", "--json", "--prefill-tokens", "32", "--decode-tokens", "4")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, key := range []string{"decode_tokens_per_s", "prefill_tokens_per_s", "weights_bytes_per_s", "memory_read_bytes_per_s"} {
		if v, ok := r[key].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", key, r[key])
		}
	}
	if r["format"] != "q8_0" {
		t.Errorf("format %v, want q8_0", r["format"])
	}
	text, _ := run(t, "run", "--model", file, "--precision", "mixed", "--temp", "0.8", "--seed", "3", "-n", "8", "hello")
	if !strings.HasPrefix(text, "hello") {
		t.Fatalf("run on the synthetic model printed %q", text)
	}
}

func TestEvalPrintsTable(t *testing.T) {
	needModels(t)
	out, _ := run(t, "eval", "--model", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin"), "--plans", "q8,q2/rtn", "--positions", "64", "--seq-len", "32")
	for _, want := range []string{"KL (nats)", "top-1", "f32", "q8", "q2/rtn"} {
		if !strings.Contains(out, want) {
			t.Fatalf("eval output lacks %q:\n%s", want, out)
		}
	}
}

// accel version names the node's version, the Go that built it and
// whether the browser SDK is in it.
func TestVersion(t *testing.T) {
	out, _ := run(t, "version")
	sdk := "embedded"
	if !browser.Embedded() {
		sdk = "not embedded (build with make build)"
	}
	want := fmt.Sprintf("accel version %s\ngo: %s %s/%s\nsdk: %s\n", node.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, sdk)
	if out != want {
		t.Errorf("accel version printed %q, want %q", out, want)
	}
}
