package main

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// startDaemon runs `accel daemon` on repo until the test ends, and waits
// until it is ready.
func startDaemon(t testing.TB, repo string) *daemontest.Accel {
	t.Helper()
	return daemontest.StartAccel(t, accel, repo)
}

// addStories adds stories260K to a repo and returns its root CID.
func addStories(t *testing.T, repo string) string {
	t.Helper()
	return daemontest.AddStories(t, accel, repo, models)
}

// exportCAR returns the CAR of root in a repo.
func exportCAR(t *testing.T, repo, root string) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "m.car")
	repoRun(t, repo, "export", root, "-o", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDaemonIDAndSwarm(t *testing.T) {
	a := startDaemon(t, newRepo(t))
	b := startDaemon(t, newRepo(t))
	for _, transport := range []string{"/tcp/", "/quic-v1/p2p/", "/quic-v1/webtransport/", "/webrtc-direct/", "/ws/"} {
		a.Addr(transport)
	}
	b.Connect(a)
	if p := b.Peers(); len(p) != 1 || p[0] != a.ID {
		t.Fatalf("b's peers %v, want [%s]", p, a.ID)
	}
	if addrs := repoRun(t, a.Dir, "swarm", "addrs"); !strings.Contains(addrs, "/p2p/"+a.ID) {
		t.Fatalf("swarm addrs: %s", addrs)
	}
	// Every transport dials.
	for _, transport := range []string{"/quic-v1/p2p/", "/quic-v1/webtransport/", "/webrtc-direct/", "/ws/"} {
		c := startDaemon(t, newRepo(t))
		repoRun(t, c.Dir, "swarm", "connect", a.Addr(transport))
		peers := repoRun(t, c.Dir, "swarm", "peers")
		if !strings.Contains(peers, strings.Split(transport, "/p2p")[0]) || !strings.Contains(peers, a.ID) {
			t.Errorf("connected over %s, peers:\n%s", transport, peers)
		}
		c.Stop()
	}
	if msg := repoFail(t, a.Dir, "swarm", "connect", "/ip4/127.0.0.1/tcp/1"); !strings.Contains(msg, "/p2p/") {
		t.Errorf("connect without a peer ID: %s", msg)
	}
	repoRun(t, b.Dir, "swarm", "disconnect", "/p2p/"+a.ID)
	waitFor(t, 5*time.Second, "a to see b go", func() bool { return !slices.Contains(a.Peers(), b.ID) })
	if p := b.Peers(); len(p) != 0 {
		t.Errorf("b's peers after disconnecting from a: %v", p)
	}
	if msg := repoFail(t, b.Dir, "swarm", "disconnect", "/p2p/"+a.ID); !strings.Contains(msg, "not connected") {
		t.Errorf("disconnecting from a peer twice: %s", msg)
	}
}

func TestThreeDaemonsShareAModel(t *testing.T) {
	needModels(t)
	a := startDaemon(t, newRepo(t))
	b := startDaemon(t, newRepo(t))
	c := startDaemon(t, newRepo(t))
	// A line: C knows only B, B knows A. C must discover A as the provider.
	b.Connect(a)
	c.Connect(b)
	time.Sleep(time.Second) // DHT routing tables fill from identify
	root := addStories(t, a.Dir)

	repoRun(t, c.Dir, "pin", "add", root)
	if !slices.Contains(c.Peers(), a.ID) {
		t.Errorf("C pinned without connecting to the provider A: peers %v", c.Peers())
	}
	repoRun(t, b.Dir, "pin", "add", root)
	want := exportCAR(t, a.Dir, root)
	for _, d := range []*daemontest.Accel{b, c} {
		if !bytes.Equal(exportCAR(t, d.Dir, root), want) {
			t.Errorf("%s's copy differs from A's", d.ID)
		}
		if pins := repoRun(t, d.Dir, "pin", "ls", "-q"); strings.TrimSpace(pins) != root {
			t.Errorf("pins %q", pins)
		}
	}
	var st struct{ RemoteBlocks int }
	if err := json.Unmarshal([]byte(repoRun(t, c.Dir, "stat", root, "--json")), &st); err != nil || st.RemoteBlocks != 0 {
		t.Errorf("C's stat: %+v %v", st, err)
	}
	// The model runs from C's repo, by CID and from the GGUF get writes.
	text := repoRun(t, c.Dir, "run", "--model", root, "--temp", "0", "-n", "64", "Once upon a time")
	if !strings.HasPrefix(text, daemontest.StoryStart) {
		t.Errorf("C's model says %q", text)
	}
	dir := t.TempDir()
	repoRun(t, c.Dir, "get", root, "-o", dir)
	if got, _ := run(t, "run", "--model", filepath.Join(dir, "model.gguf"), "--temp", "0", "-n", "64", "Once upon a time"); got != text {
		t.Errorf("the GGUF from get says %q, the CID %q", got, text)
	}
	// The trustless gateway serves the same blocks.
	resp, err := http.Get(c.Gateway + "/ipfs/" + root + "?format=car&dag-scope=all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.ipld.car; version=1; order=dfs; dups=n" || len(body) < 1<<20 {
		t.Errorf("gateway CAR: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	metrics := httpGet(t, c.Gateway+"/metrics")
	if !strings.Contains(metrics, "accel_cache_hits_total") || !strings.Contains(metrics, "accel_peers") {
		t.Errorf("metrics lack the node's counters:\n%.2000s", metrics)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, data)
	}
	return string(data)
}

// absent is the CID of a manifest no test repo holds.
const absent = "bafyreihqthe7ww646rnebq7r6gkqflfwhvj6dhjr5uxnqsueurlsvrcwai"

func TestRPCBadRequests(t *testing.T) {
	d := startDaemon(t, newRepo(t))
	for _, tc := range []struct {
		method, path, origin, body string
		status                     int
		msg                        string
	}{
		{"POST", "/api/v0/nope", "", "", 404, "unknown command"},
		{"GET", "/api/v0/id", "", "", 405, "POST"},
		{"POST", "/api/v0/id", "http://evil.example", "", 403, "Origin"},
		{"POST", "/api/v0/stat", "", "", 400, "required"},
		{"POST", "/api/v0/stat?arg=notacid", "", "", 400, "invalid CID"},
		{"POST", "/api/v0/pin/rm?arg=bafkqaaa", "", "", 404, "not pinned"},
		{"POST", "/api/v0/stat?arg=" + absent, "", "", 404, "not in the local repo"},
		{"POST", "/api/v0/export?arg=" + absent, "", "", 404, "not in the local repo"},
		{"POST", "/api/v0/add", "", "garbage", 400, "application/x-tar"},
		{"POST", "/api/v0/import", "", "garbage", 400, "car: header: not a CAR"},
		{"POST", "/api/v0/swarm/connect?arg=garbage", "", "", 400, "not a multiaddr"},
		{"POST", "/api/v0/swarm/connect?arg=/ip4/1.2.3.4", "", "", 400, "/p2p/"},
		{"POST", "/api/v0/swarm/disconnect?arg=/p2p/" + d.ID, "", "", 404, "not connected"},
	} {
		req, _ := http.NewRequest(tc.method, d.API+tc.path, strings.NewReader(tc.body))
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Message, Type string }
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || e.Type != "error" || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s %s: %d %+v (%v), want %d with %q", tc.method, tc.path, resp.StatusCode, e, err, tc.status, tc.msg)
		}
	}
	// Unknown CID over the CLI: a clear error, no hang.
	msg := repoFail(t, d.Dir, "stat", absent)
	if !strings.Contains(msg, "not in the local repo") {
		t.Errorf("stat of an unknown CID: %s", msg)
	}
}

// A daemon without the browser SDK (a binary built by a plain go build,
// or, where make build embedded it, an empty ACCEL_SDK_DIR) warns at start,
// and its web UI and /sdk/ answer 503 with a page that says how to build
// the SDK, while the gateway serves blocks.
func TestDaemonWithoutSDK(t *testing.T) {
	t.Setenv(browser.EnvSDKDir, "")
	want := browser.ErrNotEmbedded.Error()
	if browser.Embedded() {
		dir := t.TempDir()
		t.Setenv(browser.EnvSDKDir, dir)
		want = "$ACCEL_SDK_DIR (" + dir + ") holds no browser SDK: build one there with scripts/build-sdk.sh " + dir
	}
	d := startDaemon(t, newRepo(t))
	if log := d.Log().String(); !strings.Contains(log, "WARNING: "+want) {
		t.Errorf("the daemon's output lacks the warning %q:\n%s", want, log)
	}
	for _, path := range []string{"/", "/dashboard", "/sdk/ipfs-accelerate.js"} {
		resp, err := http.Get(d.Gateway + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), html.EscapeString(want)) {
			t.Errorf("GET %s: %s\n%s", path, resp.Status, body)
		}
	}
	httpGet(t, d.Gateway+"/ipfs/bafkqaaa?format=raw") // the empty identity block
}

// A static peer in the config is dialled at start and redialled after it
// restarts.
func TestStaticPeering(t *testing.T) {
	repoA := newRepo(t)
	port := freePort(t)
	setConfig(t, repoA, func(c map[string]any) {
		c["Addresses"].(map[string]any)["Swarm"] = []string{"/ip4/127.0.0.1/tcp/" + port}
	})
	a := startDaemon(t, repoA)
	repoB := newRepo(t)
	setConfig(t, repoB, func(c map[string]any) {
		c["Peering"] = map[string]any{"Peers": []string{a.Addr("/tcp/")}}
	})
	b := startDaemon(t, repoB)
	waitFor(t, 10*time.Second, "b to dial its static peer", func() bool { return slices.Contains(b.Peers(), a.ID) })
	a.Stop()
	waitFor(t, 10*time.Second, "b to see the peer go", func() bool { return !slices.Contains(b.Peers(), a.ID) })
	startDaemon(t, repoA)
	waitFor(t, 20*time.Second, "b to redial its static peer", func() bool { return slices.Contains(b.Peers(), a.ID) })
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// setConfig edits a repo's JSON config.
func setConfig(t *testing.T, repo string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(repo, "config")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	if data, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
	}
}
