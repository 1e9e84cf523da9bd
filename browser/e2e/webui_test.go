package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/loader"
)

// backendLabel is the playground's backend box after a load: the wasm
// backend on the relaxed SIMD kernels, on the default threads (half the
// cores).
var backendLabel = regexp.MustCompile(`^wasm\nrelaxed SIMD, (1 thread|[2-8] threads)\nbrowser offers SIMD, threads`)

// The web UI of a daemon with stories260K pinned and a peer that pinned it
// from there. The playground at / loads the model by CID, one progress bar
// per component, and streams the reference story with tokens/s, memory,
// backend (what the runtime uses, beside what the browser offers) and
// transport; it is held at the 40th token for a screenshot.
// The dashboard at /dashboard shows the peer, the pinned model, a
// generation held paused on the daemon's inference API, the hot cache and
// a chart of the traffic, and is screenshotted too. The
// screenshots go to $ACCEL_ARTIFACTS, else out/screenshots/, for a person
// to look at.
func TestWebUI(t *testing.T) {
	ctx := newBrowser(t)
	d, root := sdkDaemon(t)
	peer := startDaemon(t, newRepo(t))
	peer.Connect(d)
	peer.Run("pin", "add", root) // traffic for the chart

	browse(t, ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(d.Gateway+"/"),
		// Hold the page at the 40th token until the screenshot is taken.
		chromedp.Evaluate[chromedp.Void](`window.playgroundBeforeToken = (n) => n === 40 && new Promise((resolve) => { window.releasePlayground = resolve; })`),
		chromedp.SetValue(chromedp.ID("cid"), root),
		chromedp.SetValue(chromedp.ID("temperature"), "0"),
		chromedp.Click(chromedp.ID("generate")),
		chromedp.Poll[chromedp.Void](`window.releasePlayground || document.body.dataset.state === 'error'`, chromedp.WithPollingTimeout(time.Minute)),
	)
	mid := playgroundState(t, ctx)
	if mid.State != "generating" || mid.Tokens != "40" {
		t.Fatalf("playground not held mid-generation: %+v", mid)
	}
	screenshot(t, ctx, "playground.png")
	browse(t, ctx,
		chromedp.Evaluate[chromedp.Void](`window.releasePlayground()`),
		chromedp.Poll[chromedp.Void](`document.body.dataset.state !== 'generating'`, chromedp.WithPollingTimeout(time.Minute)),
	)
	end := playgroundState(t, ctx)
	if end.State != "done" || !strings.HasPrefix(end.Output, daemontest.StoryStart) {
		t.Errorf("playground ended %q (%s) with %q", end.State, end.Status, end.Output)
	}
	want := append([]string{"total"}, loader.CriticalPath(5)...)
	if len(end.Bars) != len(want) {
		t.Errorf("progress bars %v, want one for each of %v", end.Bars, want)
	}
	for _, name := range want {
		if end.Bars[name] != "100" {
			t.Errorf("progress bar %s at %q%%", name, end.Bars[name])
		}
	}
	if tps, err := strconv.ParseFloat(end.TPS, 64); err != nil || tps <= 0 || end.Tokens != "256" {
		t.Errorf("%s tokens at %s tokens/s", end.Tokens, end.TPS)
	}
	if !strings.Contains(end.Memory, "iB") || !backendLabel.MatchString(end.Backend) || !strings.Contains(end.Transport, "requests") {
		t.Errorf("memory %q, backend %q, transport %q", end.Memory, end.Backend, end.Transport)
	}

	// A generation on the daemon's inference API, paused at its first
	// token, for the dashboard to list.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(d.API, "http")+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, msg := range []any{map[string]any{"prompt": "Once upon a time", "model": root, "max_tokens": 256}, map[string]string{"type": "pause"}} {
		if err := ws.WriteJSON(msg); err != nil {
			t.Fatal(err)
		}
	}

	browse(t, ctx,
		chromedp.Navigate(d.Gateway+"/dashboard"),
		chromedp.Poll[chromedp.Void](`document.getElementById('peers-count').textContent === '1' &&
			document.getElementById('models').textContent.includes('stories260K') &&
			document.getElementById('generations').textContent.includes('stream') &&
			document.getElementById('chart').dataset.samples > 1 && document.getElementById('chart').dataset.peak > 0`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	dash, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Peers, Models, Generations, Sessions, HitRate, Sent string }](`({
		peers: document.getElementById('peers').textContent,
		models: document.getElementById('models').textContent,
		generations: document.getElementById('generations').textContent,
		sessions: document.getElementById('sessions-sub').textContent,
		hitRate: document.getElementById('hit-rate').textContent,
		sent: document.getElementById('total-out').textContent,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dash.Peers, peer.ID[:10]) || !strings.Contains(dash.Peers, "tcp") {
		t.Errorf("peers table %q lacks %s over tcp", dash.Peers, peer.ID)
	}
	if !strings.Contains(dash.Models, "llama") || !strings.Contains(dash.Models, root[:10]) {
		t.Errorf("models table %q lacks the llama model %s", dash.Models, root)
	}
	if !strings.HasPrefix(dash.Generations, "stories260K") || !strings.Contains(dash.Sessions, "1 generating") {
		t.Errorf("generations table %q, sessions %q: want the paused stream of stories260K", dash.Generations, dash.Sessions)
	}
	if !strings.HasSuffix(dash.HitRate, "%") || !strings.Contains(dash.Sent, "iB") {
		t.Errorf("hit rate %q, sent %q", dash.HitRate, dash.Sent)
	}
	screenshot(t, ctx, "dashboard.png")
}

// browse runs the steps in the test's browser.
func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// playground is what the playground page shows.
type playground struct {
	State, Status, Output          string
	Tokens, TPS, Memory, Transport string
	Backend                        string            // the backend box's lines
	Bars                           map[string]string // progress bar → percent
}

func playgroundState(t *testing.T, ctx context.Context) playground {
	t.Helper()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[playground](`(() => {
		const text = (id) => document.getElementById(id).textContent;
		return {
			state: document.body.dataset.state, status: text('status'), output: text('output'),
			tokens: text('tokens'), tps: text('tps'), memory: text('memory'), backend: document.getElementById('backend').title, transport: text('transport'),
			bars: Object.fromEntries([...document.querySelectorAll('[role=progressbar]')].map((b) => [b.getAttribute('aria-label'), b.getAttribute('aria-valuenow')])),
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// screenshot saves a PNG of the whole page as name in $ACCEL_ARTIFACTS,
// else in out/screenshots/ at the repo's root.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ACCEL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "out", "screenshots")
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
