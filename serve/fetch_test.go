package serve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bs "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/offload"
)

// peerFetcher is a Fetcher that copies a model's blocks from src into the
// repo: the viable part (by plan) at once, the rest once release is closed; its
// layers run on offload servers on other hosts, the first dialled first.
type peerFetcher struct {
	plan    loader.PlanOptions // the viable part: what FetchViable copies
	src     bs.Blockstore
	repo    *node.Repo
	release chan struct{}
	client  host.Host
	peers   []peer.ID
	dialled int

	mu     sync.Mutex
	events []string // "pin" as PinAdd starts, "dial" for each DialOffload, in order
}

func (f *peerFetcher) record(event string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event)
}

func (f *peerFetcher) FetchViable(ctx context.Context, root cid.Cid) error {
	return f.copy(ctx, root, func(m *loader.Manifest, _ int) ([]loader.Component, error) {
		p, err := loader.Plan(m, f.plan)
		return p.Fetch[:p.Viable], err
	})
}

func (f *peerFetcher) PinAdd(ctx context.Context, root cid.Cid, name string, _ func(node.Progress)) error {
	f.record("pin")
	<-f.release
	if err := f.copy(ctx, root, nil); err != nil {
		return err
	}
	return f.repo.Pin(ctx, root, name)
}

// copy walks the DAG at root as plan says, copying its blocks.
func (f *peerFetcher) copy(ctx context.Context, root cid.Cid, plan func(*loader.Manifest, int) ([]loader.Component, error)) error {
	w := loader.Walker{Get: f.src.Get, Plan: plan, Fetch: func(ctx context.Context, level []cid.Cid) error {
		for _, c := range level {
			b, err := f.src.Get(ctx, c)
			if err == nil {
				err = f.repo.Blocks.Put(ctx, b)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}}
	return w.Walk(ctx, root)
}

func (f *peerFetcher) DialOffload(ctx context.Context, root cid.Cid, from, to, contextLen int) (*offload.Client, error) {
	f.record("dial")
	p := f.peers[min(f.dialled, len(f.peers)-1)]
	f.dialled++
	return offload.Dial(ctx, f.client, p, root, from, to, contextLen)
}

// fullModel is an offload.ModelSource of one model.
type fullModel struct{ m *llama.Model }

func (s fullModel) Model(context.Context, cid.Cid) (*llama.Model, error) { return s.m, nil }

// fetching starts a fixture whose model is not pinned, with a Fetcher
// that copies the components plan lists for the viable part at once and
// the rest once pf.release is closed, and an offload server over the whole
// model on a host of its own for each of limits.
func fetching(t *testing.T, plan loader.PlanOptions, limits ...offload.Limits) (*fixture, *peerFetcher, cid.Cid, []*offload.Server) {
	t.Helper()
	pf := &peerFetcher{release: make(chan struct{}), plan: plan}
	f := newFixture(t, Options{Fetch: pf})
	ctx := context.Background()
	pf.repo = f.repo
	pins, err := f.repo.Pins(ctx)
	if err != nil || len(pins) != 1 {
		t.Fatalf("pins %v: %v", pins, err)
	}
	if err := f.repo.Unpin(ctx, pins[0].CID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.GC(ctx); err != nil {
		t.Fatal(err)
	}
	pf.src = bs.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	root, _, err := loader.Import(ctx, loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")}, loader.ImportOptions{}, dagstore.New(pf.src))
	if err != nil {
		t.Fatal(err)
	}
	dag, err := loader.Open(ctx, root, pf.src)
	if err != nil {
		t.Fatal(err)
	}
	full, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pf.client = p2ptest.NewHost(t)
	var servers []*offload.Server
	for _, l := range limits {
		h := p2ptest.NewHost(t)
		s := offload.NewServer(h, fullModel{full}, l)
		t.Cleanup(func() { _ = s.Close() })
		pf.client.Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
		pf.peers = append(pf.peers, h.ID())
		servers = append(servers, s)
	}
	return f, pf, root, servers
}

// answer is the greedy completion of prompt by the model at root.
func (f *fixture) answer(t *testing.T, root cid.Cid) string {
	t.Helper()
	status, body := f.post(t, "/v1/completions", map[string]any{"model": root.String(), "prompt": prompt, "max_tokens": 20, "temperature": 0})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	return decodeAs[completion](t, body).Choices[0].Text
}

// answersHereOncePinned lets pf's pin go on, waits for it, and checks that
// the model at root then answers text with every part of it here: peer
// opens no session for it.
func (f *fixture) answersHereOncePinned(t *testing.T, pf *peerFetcher, root cid.Cid, peer *offload.Server, text string) {
	t.Helper()
	close(pf.release)
	f.waitMetric(t, 0, "accel_inference_models_fetching")
	opened := peer.Stats().Opened
	if again := f.answer(t, root); again != text {
		t.Fatalf("pinned, answered %q, not %q", again, text)
	}
	if peer.Stats().Opened != opened {
		t.Fatal("pinned, the model still ran on the peer")
	}
}

// A model not pinned here answers at once, its layers running on a peer
// while its pin goes on (not on the gateway, where it is not found): the first peer refuses the prompt's hidden
// states part way into the session, and the generation goes on on the
// second with the same text. Once pinned it answers the same with every
// layer here.
func TestAnswerWhileFetching(t *testing.T) {
	f, pf, root, servers := fetching(t, loader.PlanOptions{Offload: true}, offload.Limits{InFlightPerPeer: 1 << 10}, offload.Limits{})
	ctx := context.Background()

	public := httptest.NewServer(Public(f.srv))
	t.Cleanup(public.Close)
	resp, err := http.Post(public.URL+"/v1/completions", "application/json", strings.NewReader(`{"model": "`+root.String()+`", "prompt": "Once"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("on the gateway, a model not pinned answered %d, want 404", resp.StatusCode)
	}

	text := f.answer(t, root)
	if !strings.HasPrefix(story, text) || len(text) < 20 {
		t.Fatalf("answered %q, not the story %q", text, story)
	}
	if refused, opened := servers[0].Stats().Refused["in_flight_bytes_per_peer"], servers[1].Stats().Opened; refused != 1 || opened == 0 {
		t.Fatalf("the first peer refused %d requests, the second opened %d sessions", refused, opened)
	}
	if got := f.metric(t, "accel_inference_models_fetching"); got != 1 {
		t.Fatalf("%v models fetching, want 1", got)
	}

	f.answersHereOncePinned(t, pf, root, servers[1], text)
	if pins, err := f.repo.Pins(ctx); err != nil || len(pins) != 1 || pins[0].CID != root {
		t.Fatalf("pins %v: %v", pins, err)
	}
}

// With only its tokenizer here, a model answers by having a peer run all
// of it, token ids in and logits out — the pin of the rest starting once
// that answer has its first token — with the text it gives once every
// part of it is local; only then does the server offer it to the node's
// offload server (Loaded).
func TestAnswerWithTheTokenizerAlone(t *testing.T) {
	f, pf, root, servers := fetching(t, loader.PlanOptions{OffloadHead: true}, offload.Limits{})
	text := f.answer(t, root)
	if !strings.HasPrefix(story, text) || len(text) < 20 {
		t.Fatalf("answered %q, not the story %q", text, story)
	}
	pf.mu.Lock()
	events := slices.Clone(pf.events)
	pf.mu.Unlock()
	if len(events) == 0 || events[0] != "dial" {
		t.Errorf("fetcher calls %v: want the answer's session dialled before the pin starts", events)
	}
	if servers[0].Stats().Opened == 0 {
		t.Fatal("the peer opened no session")
	}
	if f.srv.Loaded(root) != nil {
		t.Fatal("a model without its head and layers counts as loaded whole")
	}

	f.answersHereOncePinned(t, pf, root, servers[0], text)
	if f.srv.Loaded(root) == nil {
		t.Fatal("the model, whole, is not offered to the offload server")
	}
}
