package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/loader"
)

// Under a cache quota smaller than stories260K the browser's model cache
// stays within the quota by evicting the late layers' files, keeping the
// manifest, tokenizer, embed and head; the next load fetches from the
// network exactly the components evicted, and every load generates the
// reference text. With the default quota a load fills the cache and the
// next one fetches nothing. A component whose file or record a dying page
// did not write counts as absent: the next load fetches it again.
func TestBrowserCacheEvictsUnderQuota(t *testing.T) {
	ctx := newBrowser(t)
	d, root := sdkDaemon(t)
	parts := modelEntries(t, d.Gateway, root)
	var total, largest int64
	for _, p := range parts {
		total += p.size
		largest = max(largest, p.size)
	}
	quota := total / 2
	if quota <= largest {
		t.Fatalf("no quota between the largest entry (%d bytes) and the model (%d bytes)", largest, total)
	}
	gw := newBlockLog(t, d.Gateway)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(d.Gateway+"/sdk/test.html")); err != nil {
		t.Fatal(err)
	}
	load := func(quotaMB any) (workerResult, []string) {
		t.Helper()
		res := workerLoad(t, ctx, root, gw.url, quotaMB)
		if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
			t.Errorf("the worker generated %q", res.Text)
		}
		return res, gw.take()
	}
	quotaMB := float64(quota) / (1 << 20)

	first, requested := load(quotaMB)
	if !sameSet(requested, slices.Collect(maps.Keys(parts))) {
		t.Errorf("first load: requested %v, want the model's %d entries", requested, len(parts))
	}
	c := first.Info.Cache
	if c.Bytes > quota || c.Evicted == 0 || c.Entries != len(parts)-c.Evicted {
		t.Errorf("first load: cache %+v for %d entries under a quota of %d bytes", c, len(parts), quota)
	}

	second, evicted := load(quotaMB)
	if len(evicted) != c.Evicted || second.Info.Cached == 0 {
		t.Errorf("second load: network requests %v, %d cached blocks; the first evicted %d of %d", evicted, second.Info.Cached, c.Evicted, len(parts))
	}
	if second.Info.Cache != c {
		t.Errorf("second load: cache %+v, want %+v as after the first", second.Info.Cache, c)
	}
	// The evicted entries are layers', and rank below every entry kept.
	keptWorst, evictedBest := math.MaxInt, math.MinInt
	for k, p := range parts {
		if slices.Contains(evicted, k) {
			if !strings.HasPrefix(p.component, "layer.") {
				t.Errorf("entry %s of %s was evicted", k, p.component)
			}
			evictedBest = max(evictedBest, p.rank)
		} else {
			keptWorst = min(keptWorst, p.rank)
		}
	}
	if evictedBest >= keptWorst {
		t.Errorf("evicted entries rank up to %d, kept ones down to %d", evictedBest, keptWorst)
	}

	t.Logf("quota %d bytes of %d: kept %+v, evicted %d entries", quota, total, c, len(evicted))

	third, refetched := load(nil)
	if !sameSet(refetched, evicted) || third.Info.Cache.Evicted != 0 || third.Info.Cache.Entries != len(parts) {
		t.Errorf("default quota: requested %v (want the %d evicted), cache %+v", refetched, len(evicted), third.Info.Cache)
	}
	fourth, none := load(nil)
	if len(none) != 0 || fourth.Info.Requests != 0 || fourth.Info.Cached == 0 {
		t.Errorf("default quota, again: %d network requests, %d cached blocks", len(none), fourth.Info.Cached)
	}

	var halves []string // a component to lose its file, one to lose its record
	for k, p := range parts {
		if p.component == loader.ComponentTokenizer || p.component == loader.ComponentEmbed {
			halves = append(halves, k)
		}
	}
	if len(halves) != 2 {
		t.Fatalf("the tokenizer and embed are %d entries", len(halves))
	}
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(async (fileOf, recordOf) => {
		const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('accel-cache');
		await dir.removeEntry(fileOf);
		const db = await new Promise((resolve, reject) => {
			const open = indexedDB.open('accel-cache');
			open.onsuccess = () => resolve(open.result);
			open.onerror = () => reject(open.error);
		});
		await new Promise((resolve, reject) => {
			const tx = db.transaction('entries', 'readwrite');
			tx.objectStore('entries').delete(recordOf);
			tx.oncomplete = resolve;
			tx.onerror = () => reject(tx.error);
		});
		db.close();
	})(`+jsString(halves[0])+`, `+jsString(halves[1])+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	fifth, halfStored := load(nil)
	if !sameSet(halfStored, halves) || fifth.Info.Cache.Entries != len(parts) || fifth.Info.Cache.Bytes != total {
		t.Errorf("after losing halves of %v: requested %v, cache %+v", halves, halfStored, fifth.Info.Cache)
	}
	for _, r := range []workerResult{second, third, fourth, fifth} {
		if r.Text != first.Text {
			t.Errorf("the texts differ: %q, then %q", first.Text, r.Text)
		}
	}
}

// cacheEntry is an entry of the browser's model cache: a component's file
// with its inner nodes, or the manifest.
type cacheEntry struct {
	component string // a component name, or "manifest"
	rank      int    // how long the browser cache should keep it: higher is longer
	size      int64  // the file's bytes and the nodes', or the manifest block's
}

// modelEntries walks the model DAG at root over a trustless gateway and
// returns its cache entries by key: the manifest's CID and each
// component's root CID. Ranks follow the node's component priority
// (tokenizer, embed, head, then the layers in order), the manifest above
// all.
func modelEntries(t *testing.T, gateway, root string) map[string]cacheEntry {
	t.Helper()
	rc := cid.MustParse(root)
	data := rawBlock(t, gateway, rc)
	m, err := loader.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]cacheEntry{root: {"manifest", 1, int64(len(data))}}
	for _, comp := range m.Components {
		size := comp.Size
		for level := []cid.Cid{comp.CID}; len(level) > 0; level = level[1:] {
			if c := level[0]; c.Type() == cid.DagProtobuf {
				data := rawBlock(t, gateway, c)
				size += int64(len(data))
				nd, err := merkledag.DecodeProtobuf(data)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range nd.Links() {
					level = append(level, l.Cid)
				}
			}
		}
		entries[comp.CID.String()] = cacheEntry{comp.Name, -comp.Priority, size}
	}
	return entries
}

// blockLog is a reverse proxy to a gateway that records the CIDs asked of
// it (blocks, and the roots of CARs). Its answers forbid HTTP caching, so
// that every request the browser's model cache does not answer reaches it.
type blockLog struct {
	url  string
	mu   sync.Mutex
	cids []string
}

func newBlockLog(t *testing.T, gateway string) *blockLog {
	t.Helper()
	target, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Header.Set("Cache-Control", "no-store")
		return nil
	}
	l := &blockLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := strings.CutPrefix(r.URL.Path, "/ipfs/"); ok {
			l.mu.Lock()
			l.cids = append(l.cids, c)
			l.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

// take returns the CIDs asked for since the last take, each once (a
// component's root node and its CAR are asked for apart).
func (l *blockLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	cids := slices.Compact(slices.Sorted(slices.Values(l.cids)))
	l.cids = nil
	return cids
}

// workerResult is what workerLoad's page script resolves with.
type workerResult struct {
	Text string
	Info struct {
		Requests int // requests to the network
		Cached   int // blocks read from the browser cache
		Cache    struct {
			Bytes   int64
			Entries int
			Evicted int
		}
	}
}

// workerLoad starts a runtime worker in the open page, loads root there
// over gateway with the given cacheQuotaMB (nil: the default), generates
// greedily from "Once upon a time" and ends the worker.
func workerLoad(t *testing.T, ctx context.Context, root, gateway string, cacheQuotaMB any) workerResult {
	t.Helper()
	args, _ := json.Marshal([]any{root, gateway, cacheQuotaMB})
	script := `(async (cid, gateway, cacheQuotaMB) => {
		const worker = new Worker('/sdk/worker.js');
		const ask = (msg, final) => new Promise((resolve, reject) => {
			worker.onmessage = ({ data }) => {
				if (data.type === final) resolve(data);
				else if (data.type === 'error') reject(new Error(data.message));
			};
			worker.onerror = (event) => reject(new Error(event.message));
			worker.postMessage(msg);
		});
		try {
			const { info } = await ask({ type: 'load', id: 1, cid, gateway, cacheQuotaMB }, 'loaded');
			const prompt = 'Once upon a time';
			const { text } = await ask({ type: 'generate', id: 2, prompt, opts: { maxTokens: 64, temperature: 0 } }, 'done');
			return { text: prompt + text, info };
		} finally {
			worker.terminate();
		}
	})(...` + string(args) + `)`
	res, err := chromedp.Run(ctx, chromedp.Evaluate[workerResult](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("worker load (cacheQuotaMB %v): %v", cacheQuotaMB, err)
	}
	return res
}

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	return distinct(a) && slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// distinct reports whether no string is twice in a.
func distinct(a []string) bool {
	return len(slices.Compact(slices.Sorted(slices.Values(a)))) == len(a)
}
