package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/loader"
)

// startTestNode starts a test-profile node that stops with the test.
func startTestNode(t *testing.T) *Node {
	t.Helper()
	_, r := newTestRepo(t)
	n, err := Start(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// get fetches url and returns the response with its body read.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// /dashboard/stats reports the connected peer with its transport, the
// pinned model with its name and size, the hot cache, the traffic of
// the gateway and of the bulk transfer protocol, and never the API token.
func TestDashboardStats(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K-f32.gguf")); err != nil {
		t.Skip("test models not present")
	}
	ctx := context.Background()
	a, b := startTestNode(t), startTestNode(t)
	root, err := a.AddModel(ctx, loader.Source{Path: filepath.Join(models, "stories260K-f32.gguf")}, AddOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range a.listenAddrs() {
		if strings.HasPrefix(addr, "/ip4/127.0.0.1/tcp/") && !strings.Contains(addr, "/ws/") {
			if err := b.SwarmConnect(ctx, addr); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if err := b.PinAdd(ctx, root, "", nil); err != nil {
		t.Fatal(err)
	}
	h, err := a.GatewayHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if resp, body := get(t, srv.URL+"/ipfs/"+root.String()+"?format=raw"); resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("gateway: %s", resp.Status)
	}

	var st DashboardStats
	waitUntil(t, 5*time.Second, "a traffic sample with the transfer and the gateway response", func() bool {
		resp, body := get(t, srv.URL+"/dashboard/stats")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("stats: %s %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(body, a.Config.API.Token) {
			t.Fatal("the stats hold the API token")
		}
		st = DashboardStats{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Bandwidth.Samples {
			if s.Out > 0 {
				return true
			}
		}
		return false
	})
	if st.PeerID != a.Host.ID().String() || st.Version != Version || st.Uptime <= 0 {
		t.Errorf("node: %q %q %v", st.PeerID, st.Version, st.Uptime)
	}
	if len(st.Peers) != 1 || st.Peers[0].ID != b.Host.ID().String() || st.Peers[0].Transport != "tcp" || st.Peers[0].Direction != "Inbound" {
		t.Errorf("peers %+v", st.Peers)
	}
	if len(st.Models) != 1 || st.Models[0].CID != root.String() || st.Models[0].Name != "stories260K-f32.gguf" || st.Models[0].Architecture != "llama" {
		t.Fatalf("models %+v", st.Models)
	}
	var names []string
	var size int64
	for _, c := range st.Models[0].Components {
		names = append(names, c.Name)
		size += c.Size
	}
	if slices.Compare(names, loader.CriticalPath(5)) != 0 || size == 0 || size != st.Models[0].Size {
		t.Errorf("components %+v, size %d", st.Models[0].Components, st.Models[0].Size)
	}
	if c := st.Cache; c.Hits+c.Misses == 0 || c.HitRate != float64(c.Hits)/float64(c.Hits+c.Misses) || c.MaxBytes != DefaultHotCache {
		t.Errorf("cache %+v", c)
	}
	if st.Bandwidth.TotalOut < uint64(st.Models[0].Size) {
		t.Errorf("sent %d bytes, less than the model B pinned (%d)", st.Bandwidth.TotalOut, st.Models[0].Size)
	}
	if st.Sessions != (DashboardSession{}) {
		t.Errorf("sessions %+v with no request in flight", st.Sessions)
	}
	if in, _ := b.metrics.traffic(b); in < uint64(st.Models[0].Size) {
		t.Errorf("B received %d bytes, less than the model (%d)", in, st.Models[0].Size)
	}
}

// inferenceStub reports fixed generations.
type inferenceStub struct {
	running []DashboardGeneration
	waiting int
}

func (s inferenceStub) Generations() ([]DashboardGeneration, int) { return s.running, s.waiting }

// /dashboard/stats lists no generations before an inference service is
// shown, then the ones it reports, counted among the sessions with the
// requests waiting.
func TestDashboardGenerations(t *testing.T) {
	n := startTestNode(t)
	h, err := n.GatewayHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	stats := func() DashboardStats {
		resp, body := get(t, srv.URL+"/dashboard/stats")
		if resp.StatusCode != 200 {
			t.Fatalf("stats: %s", resp.Status)
		}
		var st DashboardStats
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(); st.Generations == nil || len(st.Generations) != 0 || st.Sessions != (DashboardSession{}) {
		t.Errorf("before ShowInference: generations %v, sessions %+v", st.Generations, st.Sessions)
	}
	stub := inferenceStub{running: []DashboardGeneration{
		{CID: "bafyreia", API: "stream", Tokens: 40, Elapsed: 2.5, TokensPerSecond: 20},
		{CID: "bafyreib", API: "completions", Tokens: 3, Elapsed: 0.5, TokensPerSecond: 8, RemoteLayers: 4},
	}, waiting: 2}
	n.ShowInference(stub)
	st := stats()
	if !slices.Equal(st.Generations, stub.running) {
		t.Errorf("generations %+v, want %+v", st.Generations, stub.running)
	}
	if st.Sessions != (DashboardSession{Generations: 2, Waiting: 2}) {
		t.Errorf("sessions %+v", st.Sessions)
	}
}

// waitUntil polls cond until it holds or the time is up.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
	}
}

// gatewayServer serves the gateway of a new test node with the SDK in
// sdkDir until the test ends.
func gatewayServer(t *testing.T, sdkDir string) *httptest.Server {
	t.Helper()
	t.Setenv(browser.EnvSDKDir, sdkDir)
	h, err := startTestNode(t).GatewayHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// The playground and the dashboard are the SDK's ui/ pages, cross-origin
// isolated; other paths are not found.
func TestWebUIPages(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ui"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"accel.wasm": "runtime", "ui/index.html": "playground", "ui/dashboard.html": "dashboard"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := gatewayServer(t, dir)
	for path, want := range map[string]string{"/": "playground", "/dashboard": "dashboard", "/sdk/ui/dashboard.html": "dashboard"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 || body != want || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("GET %s: %s %q, COEP %q", path, resp.Status, body, resp.Header.Get("Cross-Origin-Embedder-Policy"))
		}
	}
	if resp, _ := get(t, srv.URL+"/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope: %s", resp.Status)
	}
}

// Without the SDK (no runtime in $ACCEL_SDK_DIR, as in a binary built
// without `make sdk`), the web UI and /sdk/ answer 503 with a page that
// says how to build it; the node's own answers under them still come.
func TestWebUIWithoutSDK(t *testing.T) {
	dir := t.TempDir()
	srv := gatewayServer(t, dir)
	for _, path := range []string{"/", "/dashboard", "/sdk/", "/sdk/ipfs-accelerate.js"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "scripts/build-sdk.sh "+dir) || !strings.Contains(body, "make sdk") {
			t.Errorf("GET %s: %s %q", path, resp.Status, body)
		}
	}
	for _, path := range []string{"/sdk/bootstrap.json", "/dashboard/stats"} {
		if resp, body := get(t, srv.URL+path); resp.StatusCode != 200 {
			t.Errorf("GET %s: %s %q", path, resp.Status, body)
		}
	}
}

// The bandwidth log keeps the latest samples, oldest first, as rates; a
// counter read lower than before counts as no traffic.
func TestBandwidthLog(t *testing.T) {
	b := newBandwidthLog(3)
	start := time.Unix(1000, 0)
	for i := range 6 {
		b.record(start.Add(time.Duration(i)*500*time.Millisecond), uint64(i*100), uint64(i*i))
	}
	b.record(start.Add(3*time.Second), 0, 25)
	got := b.snapshot()
	want := []BandwidthSample{
		{Time: start.Add(2000 * time.Millisecond).UnixMilli(), In: 200, Out: 14},
		{Time: start.Add(2500 * time.Millisecond).UnixMilli(), In: 200, Out: 18},
		{Time: start.Add(3000 * time.Millisecond).UnixMilli(), In: 0, Out: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("samples %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
