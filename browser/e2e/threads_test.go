package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// The kernels on threads. In the daemon's pages, cross-origin isolated, a
// model loaded with threads: 2 runs its matrix products on two threads
// (the runtime's worker and a kernel worker, over the shared arena that
// holds the weights) and generates the reference text, every layer local,
// some left to the daemon, or one unloaded (its region freed) and handed
// back to it. A page that is not cross-origin isolated (the same SDK
// served without COOP/COEP) runs them on one thread, with the same text,
// every layer local or some left to the daemon.
func TestBrowserThreads(t *testing.T) {
	d, root := sdkDaemon(t)
	target, err := url.Parse(d.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		for _, h := range []string{"Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy"} {
			r.Header.Del(h)
		}
		return nil
	}
	plain := httptest.NewServer(proxy)
	t.Cleanup(plain.Close)

	ctx := newBrowser(t)
	const threads = `{"threads": 2}`
	local := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, `{"transports": ["gateway"]}`, threads)
	offloaded := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, `{"transports": ["websocket"], "maxMemoryUsageMB": 0.6}`, threads)
	single := runPage(t, ctx, plain.URL+"/sdk/test.html", root, `{"transports": ["gateway"]}`, threads)
	singleOffloaded := runPage(t, ctx, plain.URL+"/sdk/test.html", root, `{"transports": ["websocket"], "maxMemoryUsageMB": 0.6}`, threads)

	t.Logf("backends: on threads %+v, with layers offloaded %+v (remote layers %v), not isolated %+v",
		local.Info.Backend, offloaded.Info.Backend, offloaded.Viable.RemoteLayers, single.Info.Backend)
	for name, res := range map[string]pageResult{"every layer local": local, "layers offloaded": offloaded} {
		if b := res.Info.Backend; b.Threads < 2 || b.ThreadsError != "" || b.Kernels != "relaxed" {
			t.Errorf("%s: backend %+v: want the relaxed kernels on 2 threads", name, b)
		}
		if u := res.Capabilities.Uses; u.Threads == nil || *u.Threads != res.Info.Backend.Threads {
			t.Errorf("%s: the capabilities' uses %+v: want threads %d", name, u, res.Info.Backend.Threads)
		}
	}
	for name, res := range map[string]pageResult{"with layers offloaded": offloaded, "not isolated, with layers offloaded": singleOffloaded} {
		if len(res.Viable.RemoteLayers) == 0 {
			t.Errorf("%s: with a memory budget below the model, no layer stayed on the daemon", name)
		}
	}
	for name, res := range map[string]pageResult{"not isolated": single, "not isolated, with layers offloaded": singleOffloaded} {
		if b := res.Info.Backend; b.Threads != 1 || b.Kernels != "relaxed" || res.Capabilities.WasmThreads {
			t.Errorf("%s: backend %+v, threads offered %v: want the relaxed kernels on one thread", name, b, res.Capabilities.WasmThreads)
		}
	}
	if !strings.HasPrefix(local.Text, daemontest.StoryStart) || offloaded.Text != local.Text || single.Text != local.Text || singleOffloaded.Text != local.Text {
		t.Errorf("texts: on threads %q,\nwith layers offloaded %q,\non one thread %q,\non one thread with layers offloaded %q", local.Text, offloaded.Text, single.Text, singleOffloaded.Text)
	}

	type memory struct{ HeapBytes, ArenaBytes, ModelBytes float64 }
	type result struct {
		Text          string
		Loaded, After memory
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(d.Gateway+"/sdk/test.html")); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
		const model = await new IPFSAccelerate({ transports: ['websocket'] }).loadModel(`+jsString(root)+`, { threads: 2 });
		await model.waitForLoad();
		const loaded = await model.getMemoryUsage();
		await model.unloadComponent('layer.2');
		const after = await model.getMemoryUsage();
		const prompt = 'Once upon a time';
		const text = prompt + await model.generate(prompt, { maxTokens: 64, temperature: 0 });
		model.close();
		return { text, loaded, after };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memory loaded %+v, with layer.2 unloaded %+v", res.Loaded, res.After)
	if res.Text != local.Text || res.Loaded.ArenaBytes == 0 || res.After.ModelBytes >= res.Loaded.ModelBytes {
		t.Errorf("layer.2 unloaded: memory %+v, then %+v; text %q", res.Loaded, res.After, res.Text)
	}
}
