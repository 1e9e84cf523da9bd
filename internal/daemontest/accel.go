package daemontest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// StoryStart is how stories260K (with tok512) continues "Once upon a
// time" greedily: the prompt and the first tokens of the reference text.
const StoryStart = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."

// BuildAccel builds cmd/accel from the package directory pkg into a new
// temporary directory, for a TestMain; remove deletes that directory. It
// panics when the build fails, with the compiler's output.
func BuildAccel(pkg string) (bin string, remove func()) {
	dir, err := os.MkdirTemp("", "accel-test")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "accel")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = pkg
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building accel: " + err.Error() + "\n" + string(out))
	}
	return bin, func() { os.RemoveAll(dir) }
}

// NewRepo makes a repo with the test profile (127.0.0.1 only, random
// ports, no bootstrap peers, no mDNS) with the accel CLI bin, and returns
// its directory, which the test's cleanup removes.
func NewRepo(tb testing.TB, bin string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "repo")
	out := New(tb, "accel", bin, "ACCEL_PATH", dir).Run("init", "--profile=test")
	if !strings.Contains(out, "peer identity: 12D3KooW") {
		tb.Fatalf("accel init printed %q", out)
	}
	return dir
}

// Accel is a running `accel daemon` (see StartAccel) with what `accel id`
// says of it and the URLs of its HTTP services.
type Accel struct {
	*Daemon          // Dir is the repo
	ID      string   // the peer ID
	Addrs   []string // listen multiaddrs, with /p2p/ID
	Gateway string   // the gateway: http://127.0.0.1:PORT
	API     string   // the RPC API: http://127.0.0.1:PORT
}

// StartAccel runs `accel daemon`, with the CLI bin, on repo until the test
// ends, and waits until it is ready.
func StartAccel(tb testing.TB, bin, repo string) *Accel {
	tb.Helper()
	a := &Accel{Daemon: New(tb, "accel", bin, "ACCEL_PATH", repo)}
	a.Start("daemon")
	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(a.Run("id", "--json")), &id); err != nil {
		tb.Fatalf("accel id --json: %v", err)
	}
	a.ID, a.Addrs = id.ID, id.Addresses
	a.Gateway = HTTPURL(tb, a.WaitFile("gateway"))
	a.API = HTTPURL(tb, a.WaitFile("api"))
	return a
}

// Addr returns the daemon's listen address on the given transport
// ("/tcp/", "/quic-v1/p2p", "/ws/", …); "/tcp/" is not a websocket one.
func (a *Accel) Addr(transport string) string {
	a.TB.Helper()
	for _, addr := range a.Addrs {
		if strings.Contains(addr, transport) && !strings.Contains(addr, "/ws/") == !strings.Contains(transport, "/ws") {
			return addr
		}
	}
	a.TB.Fatalf("daemon %s has no %s address among %v", a.ID, transport, a.Addrs)
	return ""
}

// Connect dials to from a over TCP.
func (a *Accel) Connect(to *Accel) {
	a.TB.Helper()
	a.Run("swarm", "connect", to.Addr("/tcp/"))
}

// Peers lists the peer IDs the daemon is connected to.
func (a *Accel) Peers() []string {
	a.TB.Helper()
	var ids []string
	for _, line := range strings.Fields(a.Run("swarm", "peers")) {
		ids = append(ids, line[strings.LastIndex(line, "/")+1:])
	}
	return ids
}

// AddStories adds stories260K.bin with its tokenizer tok512.bin, both in
// the directory models, to repo with the accel CLI bin, passing `accel add`
// any further flags (e.g. "--precision", "q4_0"), and returns the model's
// root CID.
func AddStories(tb testing.TB, bin, repo, models string, flags ...string) string {
	tb.Helper()
	args := append([]string{"add", "-q", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin")}, flags...)
	out := New(tb, "accel", bin, "ACCEL_PATH", repo).Run(args...)
	return strings.TrimSpace(out)
}

// CorruptBlocks flips a byte in every block file of a stopped daemon's
// repo and returns how many it changed.
func CorruptBlocks(tb testing.TB, repo string) int {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "blocks", "*", "*.data"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no block files in %s: %v", repo, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(f, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return len(files)
}

// SynthModel returns the default synthetic model of `accel synth` (≈307M
// parameters) as a GGUF file of type typ (Q4_0, Q8_0, …), made with the
// accel CLI bin the first time and kept in the temp dir across runs as
// accel-bench-synth-<type>.gguf.
func SynthModel(tb testing.TB, bin, typ string) string {
	tb.Helper()
	path := filepath.Join(os.TempDir(), "accel-bench-synth-"+strings.ToLower(typ)+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".part"
	New(tb, "accel", bin, "ACCEL_PATH", tb.TempDir()).Run("synth", "-o", tmp, "--type", typ)
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	return path
}
