package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// repoRun runs accel with ACCEL_PATH=repo and returns stdout, failing the
// test if it fails.
func repoRun(t testing.TB, repo string, args ...string) string {
	t.Helper()
	return daemontest.New(t, "accel", accel, "ACCEL_PATH", repo).Run(args...)
}

// repoFail runs accel with ACCEL_PATH=repo, expecting a clean failure, and
// returns its stderr.
func repoFail(t *testing.T, repo string, args ...string) string {
	t.Helper()
	cmd := exec.Command(accel, args...)
	cmd.Env = append(os.Environ(), "ACCEL_PATH="+repo)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "Error:") || strings.Contains(stderr.String(), "panic") {
		t.Fatalf("accel %s: want a clean error, got %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stderr.String()
}

func newRepo(t testing.TB) string {
	t.Helper()
	return daemontest.NewRepo(t, accel)
}

func pinList(t *testing.T, repo string) []string {
	t.Helper()
	return strings.Fields(repoRun(t, repo, "pin", "ls", "-q"))
}

type repoStat struct {
	Blocks     int   `json:"blocks"`
	Bytes      int64 `json:"bytes"`
	StorageMax int64 `json:"storage_max"`
	Pins       int   `json:"pins"`
}

func statRepo(t *testing.T, repo string) repoStat {
	t.Helper()
	var st repoStat
	if err := json.Unmarshal([]byte(repoRun(t, repo, "repo", "stat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInitConfig(t *testing.T) {
	repo := newRepo(t)
	data, err := os.ReadFile(filepath.Join(repo, "config"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Identity  struct{ PeerID, PrivKey string }
		Addresses struct{ Swarm []string }
		Bootstrap []string
		Discovery struct{ MDNS struct{ Enabled bool } }
		Datastore struct{ StorageMax int64 }
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Identity.PeerID, "12D3KooW") || cfg.Identity.PrivKey == "" {
		t.Errorf("identity %+v", cfg.Identity)
	}
	for _, a := range cfg.Addresses.Swarm {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") || !strings.Contains(a, "/0") {
			t.Errorf("test profile listens on %s", a)
		}
	}
	if len(cfg.Bootstrap) != 0 || cfg.Discovery.MDNS.Enabled || cfg.Datastore.StorageMax <= 0 {
		t.Errorf("test profile config %s", data)
	}
	if msg := repoFail(t, repo, "init"); !strings.Contains(msg, "already exists") {
		t.Errorf("init over a repo: %s", msg)
	}
	if msg := repoFail(t, filepath.Join(t.TempDir(), "none"), "pin", "ls"); !strings.Contains(msg, "accel init") {
		t.Errorf("missing repo: %s", msg)
	}
}

func TestRepoLifecycle(t *testing.T) {
	needModels(t)
	bin, tok, gguf := filepath.Join(models, "stories260K.bin"), filepath.Join(models, "tok512.bin"), filepath.Join(models, "stories260K-f32.gguf")
	a, b := newRepo(t), newRepo(t)

	// The same file and options give the same CID in two repos.
	out := repoRun(t, a, "add", bin, "--tokenizer", tok)
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[0] != "added" || fields[2] != "stories260K.bin" {
		t.Fatalf("add printed %q", out)
	}
	root := fields[1]
	if again := strings.TrimSpace(repoRun(t, b, "add", "-q", bin, "--tokenizer", tok)); again != root {
		t.Fatalf("second repo's CID %s, first %s", again, root)
	}
	if pins := pinList(t, a); len(pins) != 1 || pins[0] != root {
		t.Fatalf("pins %v, want [%s]", pins, root)
	}

	// stat
	var st struct {
		Architecture    string
		Hyperparameters struct{ Layers int }
		Components      []struct {
			Name         string
			Size         int64
			Tensors      int
			LocalBlocks  int `json:"local_blocks"`
			RemoteBlocks int `json:"remote_blocks"`
		}
		RemoteBlocks int `json:"remote_blocks"`
	}
	if err := json.Unmarshal([]byte(repoRun(t, a, "stat", root, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Architecture != "llama" || st.Hyperparameters.Layers != 5 || len(st.Components) != 8 || st.RemoteBlocks != 0 ||
		st.Components[0].Name != "tokenizer" || st.Components[2].Name != "layer.0" || st.Components[7].Name != "head" {
		t.Fatalf("stat %+v", st)
	}
	for _, c := range st.Components[1:] {
		if c.Size <= 0 || c.Tensors == 0 || c.LocalBlocks == 0 {
			t.Errorf("component %+v", c)
		}
	}
	if text := repoRun(t, a, "stat", root); !strings.Contains(text, "layer.4") || !strings.Contains(text, "architecture:  llama") {
		t.Errorf("stat printed %s", text)
	}

	// get writes a GGUF that runs.
	dir := t.TempDir()
	repoRun(t, a, "get", root, "-o", dir)
	story, _ := run(t, "run", "--model", filepath.Join(dir, "model.gguf"), "--temp", "0", "-n", "32", "Once upon a time")
	if !strings.HasPrefix(story, "Once upon a time, there was a little girl named Lily.") {
		t.Fatalf("the model from get says %q", story)
	}
	var manifest map[string]any
	if data, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil || json.Unmarshal(data, &manifest) != nil || manifest["version"] != "accel-model/1" {
		t.Fatalf("manifest.json: %v %v", err, manifest)
	}

	// verify re-hashes the blocks; a block file changed on disk is caught.
	if out := repoRun(t, b, "repo", "verify"); !strings.Contains(out, "verified 9 blocks") {
		t.Errorf("repo verify printed %q", out)
	}
	files, _ := filepath.Glob(filepath.Join(b, "blocks", "*", "*.data"))
	os.WriteFile(files[0], []byte("bit rot"), 0o644)
	if msg := repoFail(t, b, "repo", "verify"); !strings.Contains(msg, "1 of 9 blocks are corrupt") {
		t.Errorf("repo verify of a corrupted repo: %s", msg)
	}

	// export → import into a fresh repo: same root, pinned.
	car := filepath.Join(t.TempDir(), "model.car")
	repoRun(t, a, "export", root, "-o", car)
	exported, _ := os.ReadFile(car)
	if viaStdout := repoRun(t, a, "export", root); viaStdout != string(exported) {
		t.Fatal("export to stdout and to a file differ")
	}
	c := newRepo(t)
	if out := repoRun(t, c, "import", car); !strings.Contains(out, root) {
		t.Fatalf("import printed %q", out)
	}
	if pins := pinList(t, c); len(pins) != 1 || pins[0] != root {
		t.Fatalf("imported pins %v", pins)
	}
	if again := repoRun(t, c, "export", root); again != string(exported) {
		t.Fatal("re-export of the imported model differs")
	}

	// gc after pin rm frees the model but keeps the other pinned model's
	// blocks (the GGUF shares most of them).
	other := strings.TrimSpace(repoRun(t, a, "add", "-q", gguf))
	before := statRepo(t, a)
	if out := repoRun(t, a, "gc"); !strings.Contains(out, "removed 0 blocks") {
		t.Fatalf("gc with everything pinned: %s", out)
	}
	repoRun(t, a, "pin", "rm", root)
	if pins := pinList(t, a); len(pins) != 1 || pins[0] != other {
		t.Fatalf("pins after rm %v", pins)
	}
	if out := repoRun(t, a, "gc"); strings.Contains(out, "removed 0 blocks") {
		t.Fatalf("gc after pin rm: %s", out)
	}
	after := statRepo(t, a)
	if after.Blocks >= before.Blocks || after.Pins != 1 {
		t.Fatalf("repo before %+v, after %+v", before, after)
	}
	repoFail(t, a, "stat", root) // its manifest is gone
	var kept struct {
		RemoteBlocks int `json:"remote_blocks"`
		LocalBlocks  int `json:"local_blocks"`
	}
	json.Unmarshal([]byte(repoRun(t, a, "stat", other, "--json")), &kept)
	if kept.RemoteBlocks != 0 || kept.LocalBlocks != after.Blocks {
		t.Fatalf("the other model after gc: %+v, repo %+v", kept, after)
	}
	// and every block of the removed model goes once the other goes too.
	repoRun(t, a, "pin", "rm", other)
	repoRun(t, a, "gc")
	if st := statRepo(t, a); st.Blocks != 0 || st.Bytes != 0 {
		t.Fatalf("repo after removing every pin: %+v", st)
	}
}

func TestRepoBadInput(t *testing.T) {
	needModels(t)
	a := newRepo(t)
	root := strings.TrimSpace(repoRun(t, a, "add", "-q", filepath.Join(models, "stories260K-f32.gguf")))
	car := filepath.Join(t.TempDir(), "model.car")
	repoRun(t, a, "export", root, "-o", car)
	data, _ := os.ReadFile(car)

	b := newRepo(t)
	bad := filepath.Join(t.TempDir(), "bad.car")
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)-100] ^= 0xff // inside the last block's bytes
	os.WriteFile(bad, corrupt, 0o644)
	if msg := repoFail(t, b, "import", bad); !strings.Contains(msg, "car: block ") {
		t.Errorf("corrupted CAR: %s", msg)
	}
	trunc := filepath.Join(t.TempDir(), "trunc.car")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	repoFail(t, b, "import", trunc)
	junk := filepath.Join(t.TempDir(), "junk.car")
	os.WriteFile(junk, []byte("not a car at all"), 0o644)
	repoFail(t, b, "import", junk)
	if pins := pinList(t, b); len(pins) != 0 {
		t.Fatalf("pins after bad CARs: %v", pins)
	}
	repoRun(t, b, "gc")
	if st := statRepo(t, b); st.Blocks != 0 {
		t.Fatalf("blocks left after bad CARs and gc: %+v", st)
	}

	for _, args := range [][]string{
		{"stat", "not-a-cid"},
		{"pin", "add", "bafyzzz"},
		{"get", "Qm", "-o", t.TempDir()},
		{"stat", "bafkreihs3l6d3qmq6pubabkgkwdwjo5t4alhkkej6suyyyihgmgcwgipaa"}, // a raw block, not a manifest
		{"export", root},             // not in b
		{"pin", "rm", root},          // not pinned
		{"add", "/nonexistent.gguf"}, // no file
		{"add", car},                 // not a model
		{"import", "/nonexistent.car"},
	} {
		repoFail(t, b, args...)
	}
	if msg := repoFail(t, b, "pin", "add", root); !strings.Contains(msg, "not in the local repo") {
		t.Errorf("pin add of a remote CID: %s", msg)
	}
}

func TestRepoLock(t *testing.T) {
	repo := newRepo(t)
	// A holder: an import from a pipe that never ends keeps the repo open.
	// A probe that runs while the holder starts can take the lock first and
	// make the holder fail, so probes are sparse and a dead holder restarts.
	var (
		holder *exec.Cmd
		stdin  io.WriteCloser
		done   chan error
	)
	stop := func() {
		if holder != nil {
			stdin.Close()
			<-done
			holder = nil
		}
	}
	defer stop()
	for try := 1; try <= 20; try++ {
		if holder != nil {
			select {
			case <-done:
				holder = nil // lost the race to a probe
			default:
			}
		}
		if holder == nil {
			holder = exec.Command(accel, "import", "-")
			holder.Env = append(os.Environ(), "ACCEL_PATH="+repo)
			var err error
			if stdin, err = holder.StdinPipe(); err != nil {
				t.Fatal(err)
			}
			if err := holder.Start(); err != nil {
				t.Fatal(err)
			}
			done = make(chan error, 1)
			go func(c *exec.Cmd) { done <- c.Wait() }(holder)
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		c := exec.Command(accel, "pin", "ls")
		c.Env = append(os.Environ(), "ACCEL_PATH="+repo)
		out, err := c.CombinedOutput()
		if err != nil {
			if !strings.Contains(string(out), "repo is locked by another process (a running daemon?)") {
				t.Fatalf("second process: %s", out)
			}
			return
		}
	}
	t.Fatal("the repo was never locked")
}

// TestKillDuringAdd stops `accel add` midway, with kill -9 and with
// Ctrl-C: no pin is left, gc removes the partial blocks, and the add runs
// again to completion.
func TestKillDuringAdd(t *testing.T) {
	model := filepath.Join(t.TempDir(), "big.gguf")
	run(t, "synth", "--type", "F32", "--dim", "512", "--ffn", "1024", "--layers", "4", "--vocab", "4096", "-o", model)
	t.Run("SIGKILL", func(t *testing.T) { stopAdd(t, model, os.Kill) })
	t.Run("SIGINT", func(t *testing.T) { stopAdd(t, model, os.Interrupt) })
}

func stopAdd(t *testing.T, model string, sig os.Signal) {
	for try := 0; ; try++ {
		repo := newRepo(t)
		cmd := exec.Command(accel, "add", "-q", "--chunk-size", "262144", model)
		cmd.Env = append(os.Environ(), "ACCEL_PATH="+repo)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has stored some blocks.
		deadline := time.Now().Add(10 * time.Second)
		for countBlocks(repo) < 5 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		stored := countBlocks(repo)
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		t.Logf("stopped after %d blocks: %v", stored, err)
		if err == nil {
			if try < 3 {
				continue // it finished first
			}
			t.Skip("add always finished before the kill")
		}
		if pins := pinList(t, repo); len(pins) != 0 {
			t.Fatalf("pins after a killed add: %v", pins)
		}
		if st := statRepo(t, repo); st.Blocks == 0 {
			t.Fatalf("killed add stored nothing: %+v", st)
		}
		repoRun(t, repo, "gc")
		if st := statRepo(t, repo); st.Blocks != 0 {
			t.Fatalf("blocks left after gc: %+v", st)
		}
		root := strings.TrimSpace(repoRun(t, repo, "add", "-q", "--chunk-size", "262144", model))
		if pins := pinList(t, repo); len(pins) != 1 || pins[0] != root {
			t.Fatalf("pins after re-adding: %v", pins)
		}
		return
	}
}

// countBlocks counts the block files of a repo's flatfs store.
func countBlocks(repo string) int {
	files, _ := filepath.Glob(filepath.Join(repo, "blocks", "*", "*.data"))
	return len(files)
}
