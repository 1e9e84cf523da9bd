package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// Faults on real daemons: a provider dying mid-transfer, a provider serving
// corrupt blocks, daemons killed during pin add and add, and many pins and
// gateway reads at once.

// bigShape is a ≈42 MiB Q8_0 model: 176 blocks of 256 KiB, enough that a
// transfer over loopback lasts long enough to be interrupted.
var bigShape = []string{"--dim", "768", "--ffn", "2048", "--layers", "4", "--heads", "12", "--kv-heads", "12", "--vocab", "8192"}

// tinyShape is a ≈1.7 MiB model whose tokenizer and layers are one raw
// leaf each at 256 KiB chunks.
var tinyShape = []string{"--dim", "128", "--ffn", "384", "--layers", "5", "--heads", "4", "--kv-heads", "4", "--vocab", "2048"}

// synthArgs are the arguments of `accel synth` for a random Q8_0 model.
func synthArgs(file string, seed int, shape []string) []string {
	return append([]string{"synth", "-o", file, "--type", "Q8_0", "--seed", strconv.Itoa(seed)}, shape...)
}

var bigModelOnce sync.Once

// bigModel returns a model of bigShape, written once per test run beside
// the binary (TestMain removes it).
func bigModel(t *testing.T) string {
	t.Helper()
	file := filepath.Join(filepath.Dir(accel), "big.gguf")
	bigModelOnce.Do(func() { run(t, synthArgs(file, 1, bigShape)...) })
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the big model: %v", err)
	}
	return file
}

// addModel adds a model file to a repo in 256 KiB chunks and returns its
// root CID.
func addModel(t *testing.T, repo, file string) string {
	t.Helper()
	return strings.TrimSpace(repoRun(t, repo, "add", "-q", "--chunk-size", "262144", file))
}

// proc is an accel command running in the background.
type proc struct {
	args           []string
	stdout, stderr bytes.Buffer // complete once done is closed
	done           chan struct{}
	err            error // the exit status, set before done closes
}

// startProc starts accel with ACCEL_PATH=repo; it is killed when the test
// ends if it still runs.
func startProc(t testing.TB, repo string, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, done: make(chan struct{})}
	cmd := exec.Command(accel, args...)
	cmd.Env = append(os.Environ(), "ACCEL_PATH="+repo)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// runAll runs the command lines in parallel with ACCEL_PATH=repo and
// returns their stdouts, failing the test if any fails or runs past limit.
func runAll(t *testing.T, repo string, limit time.Duration, cmds ...[]string) []string {
	t.Helper()
	procs := make([]*proc, len(cmds))
	for i, args := range cmds {
		procs[i] = startProc(t, repo, args...)
	}
	out := make([]string, len(cmds))
	for i, p := range procs {
		if err := p.wait(t, limit); err != nil {
			t.Errorf("accel %s: %v\n%s", strings.Join(p.args, " "), err, p.stderr.String())
		}
		out[i] = p.stdout.String()
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// wait returns the command's exit error, failing the test if it runs
// longer than limit.
func (p *proc) wait(t testing.TB, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("accel %s still runs after %s", strings.Join(p.args, " "), limit)
		return nil
	}
}

// waitFailed waits for p, whose daemon died under it: it must end with a
// clean error.
func (p *proc) waitFailed(t *testing.T) {
	t.Helper()
	err := p.wait(t, 30*time.Second)
	if msg := p.stderr.String(); err == nil || !strings.Contains(msg, "Error:") || strings.Contains(msg, "panic") {
		t.Errorf("accel %s, whose daemon died: %v\n%s%s", strings.Join(p.args, " "), err, p.stdout.String(), msg)
	} else {
		t.Logf("accel %s, whose daemon died: %s", strings.Join(p.args, " "), strings.TrimSpace(msg))
	}
}

// waitBlocks polls the block files of repo, which p is filling, until
// there are at least n, and returns how many there are. It fails the test
// if p exits first: the operation was too quick to be interrupted.
func waitBlocks(t *testing.T, repo string, n int, p *proc) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if have := countBlocks(repo); have >= n {
			return have
		}
		select {
		case <-p.done:
			t.Fatalf("accel %s ended (%v) before the repo held %d blocks (it holds %d): too quick to interrupt\n%s",
				strings.Join(p.args, " "), p.err, n, countBlocks(repo), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repo holds %d blocks after a minute of accel %s, want %d", countBlocks(repo), strings.Join(p.args, " "), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkCopy checks that repo's copy of root exports to want and that every
// block in repo matches its CID.
func checkCopy(t *testing.T, repo, root string, want []byte) {
	t.Helper()
	if !bytes.Equal(exportCAR(t, repo, root), want) {
		t.Errorf("the copy of %s in %s differs from the provider's", root, repo)
	}
	if out, want := repoRun(t, repo, "repo", "verify"), fmt.Sprintf("verified %d blocks\n", countBlocks(repo)); out != want {
		t.Errorf("repo verify printed %q, want %q", out, want)
	}
}

// checkPins checks that repo's pins are exactly want, in any order.
func checkPins(t *testing.T, repo string, want ...string) {
	t.Helper()
	got := pinList(t, repo)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("pins %v, want %v", got, want)
	}
}

// keptModel is a model pinned in a repo before a crash, which must survive
// it and the gc after it.
type keptModel struct {
	root   string
	car    []byte
	blocks int // the repo's block count with only this model
}

// pinStories adds stories260K to a repo with no other blocks.
func pinStories(t *testing.T, repo string) keptModel {
	t.Helper()
	root := addStories(t, repo)
	return keptModel{root: root, car: exportCAR(t, repo, root), blocks: countBlocks(repo)}
}

// checkAfterCrash checks a repo whose daemon was killed during an
// operation that had stored partial blocks beside kept, and was restarted:
// kept is the only pin, every stored block matches its CID, and gc removes
// exactly the partial blocks and leaves kept whole.
func checkAfterCrash(t *testing.T, repo string, kept keptModel, partial int) {
	t.Helper()
	checkPins(t, repo, kept.root)
	if out := repoRun(t, repo, "repo", "verify"); out != fmt.Sprintf("verified %d blocks\n", kept.blocks+partial) {
		t.Errorf("repo verify after the crash printed %q, want %d blocks", out, kept.blocks+partial)
	}
	if out, want := repoRun(t, repo, "gc"), fmt.Sprintf("removed %d blocks,", partial); !strings.HasPrefix(out, want) {
		t.Errorf("gc after the crash printed %q, want %q…", out, want)
	}
	if n := countBlocks(repo); n != kept.blocks {
		t.Errorf("%d blocks after gc, want the kept model's %d", n, kept.blocks)
	}
	if !bytes.Equal(exportCAR(t, repo, kept.root), kept.car) {
		t.Errorf("the pinned model %s changed across the crash and gc", kept.root)
	}
}

func TestProviderKilledMidTransfer(t *testing.T) {
	model := bigModel(t)
	a1 := startDaemon(t, newRepo(t))
	a2 := startDaemon(t, newRepo(t))
	b := startDaemon(t, newRepo(t))
	root := addModel(t, a1.Dir, model)
	if again := addModel(t, a2.Dir, model); again != root {
		t.Fatalf("A2's root %s, A1's %s", again, root)
	}
	total := countBlocks(a2.Dir)
	want := exportCAR(t, a2.Dir, root)
	b.Connect(a1)
	b.Connect(a2)

	pin := startProc(t, b.Dir, "pin", "add", "-q", root)
	waitBlocks(t, b.Dir, total/4, pin)
	a1.Kill()
	n := countBlocks(b.Dir)
	t.Logf("A1 killed with %d of %d blocks on B", n, total)
	if n >= total {
		t.Fatalf("B held all %d blocks when A1 died: the kill came too late", total)
	}
	if err := pin.wait(t, time.Minute); err != nil {
		t.Fatalf("pin add after A1 died: %v\n%s", err, pin.stderr.String())
	}
	checkCopy(t, b.Dir, root, want)
	checkPins(t, b.Dir, root)
	if slices.Contains(b.Peers(), a1.ID) {
		t.Errorf("B still lists the dead A1 among its peers")
	}
}

func TestCorruptPeerIsRejected(t *testing.T) {
	model := bigModel(t)
	a := startDaemon(t, newRepo(t))
	m := startDaemon(t, newRepo(t))
	root := addModel(t, a.Dir, model)
	if again := addModel(t, m.Dir, model); again != root {
		t.Fatalf("M's root %s, A's %s", again, root)
	}
	// M's store rots while it is down; it serves the bad bytes on restart
	// (the blockstore does not hash on read).
	m.Stop()
	n := daemontest.CorruptBlocks(t, m.Dir)
	if msg := repoFail(t, m.Dir, "repo", "verify"); !strings.Contains(msg, fmt.Sprintf("%d of %d blocks are corrupt", n, n)) {
		t.Fatalf("repo verify of M: %s", msg)
	}
	m = startDaemon(t, m.Dir)

	b := startDaemon(t, newRepo(t))
	b.Connect(m)
	b.Connect(a)
	repoRun(t, b.Dir, "pin", "add", "-q", root)
	checkCopy(t, b.Dir, root, exportCAR(t, a.Dir, root))
	if got, want := countBlocks(b.Dir), countBlocks(a.Dir); got != want {
		t.Errorf("B stored %d blocks, A has %d", got, want)
	}
	if slices.Contains(b.Peers(), m.ID) {
		t.Errorf("B is still connected to the corrupt peer M")
	}
	if msg := repoFail(t, b.Dir, "swarm", "connect", m.Addr("/tcp/")); !strings.Contains(msg, "gater disallows") {
		t.Errorf("reconnecting to the banned M: %s", msg)
	}
	if !slices.Contains(b.Peers(), a.ID) {
		t.Errorf("B dropped the good peer A")
	}
	b.Stop()
	if log := b.Log().String(); !strings.Contains(log, "banning peer "+m.ID) {
		t.Errorf("B's log does not say it banned M (%s):\n%s", m.ID, log)
	}
}

// killMidway SIGKILLs daemon b once a quarter of the total blocks that p
// (a CLI command talking to b) brings in are stored, checks that the kill
// came before the end and that p failed, and returns how many of those
// blocks b held when it died.
func killMidway(t *testing.T, b *daemontest.Accel, p *proc, kept keptModel, total int) int {
	t.Helper()
	waitBlocks(t, b.Dir, kept.blocks+total/4, p)
	b.Kill()
	partial := countBlocks(b.Dir) - kept.blocks
	t.Logf("B killed with %d of %d blocks", partial, total)
	if partial >= total {
		t.Fatalf("B held all %d blocks when it died: the kill came too late", total)
	}
	p.waitFailed(t)
	return partial
}

func TestKillDuringPinAdd(t *testing.T) {
	needModels(t)
	model := bigModel(t)
	a := startDaemon(t, newRepo(t))
	b := startDaemon(t, newRepo(t))
	kept := pinStories(t, b.Dir)
	root := addModel(t, a.Dir, model)
	total := countBlocks(a.Dir)
	b.Connect(a)

	pin := startProc(t, b.Dir, "pin", "add", "-q", root)
	partial := killMidway(t, b, pin, kept, total)

	b = startDaemon(t, b.Dir)
	checkAfterCrash(t, b.Dir, kept, partial)
	b.Connect(a)
	repoRun(t, b.Dir, "pin", "add", "-q", root)
	checkCopy(t, b.Dir, root, exportCAR(t, a.Dir, root))
	checkPins(t, b.Dir, kept.root, root)
}

func TestKillDaemonDuringAdd(t *testing.T) {
	needModels(t)
	model := bigModel(t)
	fresh := newRepo(t)
	want := addModel(t, fresh, model)
	total := countBlocks(fresh)
	b := startDaemon(t, newRepo(t))
	kept := pinStories(t, b.Dir)

	add := startProc(t, b.Dir, "add", "-q", "--chunk-size", "262144", model)
	partial := killMidway(t, b, add, kept, total)

	b = startDaemon(t, b.Dir)
	if left, err := os.ReadDir(filepath.Join(b.Dir, uploadsDir)); err != nil || len(left) != 0 {
		t.Errorf("uploads after the restart: %v %v", left, err)
	}
	checkAfterCrash(t, b.Dir, kept, partial)
	if root := addModel(t, b.Dir, model); root != want {
		t.Fatalf("add after the crash gave %s, a fresh repo %s", root, want)
	}
	checkCopy(t, b.Dir, want, exportCAR(t, fresh, want))
	checkPins(t, b.Dir, kept.root, want)
}

// rawLeaves returns the components of the model at root in repo that are
// single raw leaves (one chunk each).
func rawLeaves(t *testing.T, repo, root string) []cid.Cid {
	t.Helper()
	var st struct {
		Components []struct{ CID string }
	}
	if err := json.Unmarshal([]byte(repoRun(t, repo, "stat", root, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	var out []cid.Cid
	for _, comp := range st.Components {
		c, err := cid.Decode(comp.CID)
		if err != nil {
			t.Fatalf("component CID %q: %v", comp.CID, err)
		}
		if c.Type() == cid.Raw {
			out = append(out, c)
		}
	}
	return out
}

// getRawBlock fetches c from a trustless gateway and checks that the body
// hashes to c.
func getRawBlock(gateway string, c cid.Cid) error {
	req, err := http.NewRequest("GET", gateway+"/ipfs/"+c.String()+"?format=raw", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.ipld.raw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.ipld.raw" {
		return fmt.Errorf("%s: %s %q: %.200s", c, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	sum, err := c.Prefix().Sum(body)
	if err != nil || !sum.Equals(c) {
		return fmt.Errorf("%s: the %d bytes served hash to %s (%v)", c, len(body), sum, err)
	}
	return nil
}

// maxDaemonRSS bounds the peak memory of a daemon that pins and serves
// small models (≈100 MiB measured).
const maxDaemonRSS = 512 << 20

func TestConcurrentPinsAndGatewayReads(t *testing.T) {
	const nModels, nReads = 20, 100
	a := startDaemon(t, newRepo(t))
	b := startDaemon(t, newRepo(t))
	dir := t.TempDir()
	var synths, adds, pins [][]string
	for i := range nModels {
		file := filepath.Join(dir, fmt.Sprintf("m%d.gguf", i))
		synths = append(synths, synthArgs(file, 100+i, tinyShape))
		adds = append(adds, []string{"add", "-q", "--chunk-size", "262144", file})
	}
	runAll(t, "", time.Minute, synths...)
	roots := runAll(t, a.Dir, time.Minute, adds...)
	for i, root := range roots {
		roots[i] = strings.TrimSpace(root)
		pins = append(pins, []string{"pin", "add", "-q", roots[i]})
	}
	if len(slices.Compact(slices.Sorted(slices.Values(roots)))) != nModels {
		t.Fatalf("the %d models share roots: %v", nModels, roots)
	}
	checkPins(t, a.Dir, roots...)
	b.Connect(a)

	start := time.Now()
	runAll(t, b.Dir, 2*time.Minute, pins...)
	t.Logf("%d parallel pin adds in %s", nModels, time.Since(start).Round(time.Millisecond))
	checkPins(t, b.Dir, roots...)

	var leaves []cid.Cid
	for _, root := range roots {
		leaves = append(leaves, rawLeaves(t, b.Dir, root)...)
	}
	if len(leaves) < nReads {
		t.Fatalf("only %d raw leaf components in %d models, want %d", len(leaves), nModels, nReads)
	}
	start = time.Now()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, c := range leaves[:nReads] {
		wg.Go(func() {
			<-gate
			if err := getRawBlock(b.Gateway, c); err != nil {
				t.Errorf("gateway read: %v", err)
			}
		})
	}
	close(gate)
	wg.Wait()
	t.Logf("%d concurrent gateway block reads in %s", nReads, time.Since(start).Round(time.Millisecond))

	for name, d := range map[string]*daemontest.Accel{"A": a, "B": b} {
		rss, err := daemontest.PeakRSS(d.Pid())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s's peak RSS %d MiB (bound %d MiB)", name, rss>>20, maxDaemonRSS>>20)
		if rss > maxDaemonRSS {
			t.Errorf("%s's peak RSS %d MiB exceeds the bound", name, rss>>20)
		}
	}
}
