package serve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/offload"
)

// peerFetcher is a Fetcher that copies a model's blocks from src into the
// repo: the viable part at once, the rest once release is closed; its
// layers run on offload servers on other hosts, the first dialled first.
type peerFetcher struct {
	src     bs.Blockstore
	repo    *node.Repo
	release chan struct{}
	client  host.Host
	peers   []peer.ID
	dialled int
}

func (f *peerFetcher) FetchViable(ctx context.Context, root cid.Cid) error {
	return f.copy(ctx, root, func(m *loader.Manifest, _ int) ([]loader.Component, error) {
		p, err := loader.Plan(m, loader.PlanOptions{Offload: true})
		return p.Fetch[:p.Viable], err
	})
}

func (f *peerFetcher) PinAdd(ctx context.Context, root cid.Cid, name string, _ func(node.Progress)) error {
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
	p := f.peers[min(f.dialled, len(f.peers)-1)]
	f.dialled++
	return offload.Dial(ctx, f.client, p, root, from, to, contextLen)
}

// fullModel is an offload.ModelSource of one model.
type fullModel struct{ m *llama.Model }

func (s fullModel) Model(context.Context, cid.Cid) (*llama.Model, error) { return s.m, nil }

// A model not pinned here answers at once, its layers running on a peer
// while its pin goes on (not on the gateway, where it is not found): the first peer refuses the prompt's hidden
// states part way into the session, and the generation goes on on the
// second with the same text. Once pinned it answers the same with every
// layer here.
func TestAnswerWhileFetching(t *testing.T) {
	pf := &peerFetcher{release: make(chan struct{})}
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
	root, _, err := loader.Import(ctx, loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")}, loader.ImportOptions{}, pf.src)
	if err != nil {
		t.Fatal(err)
	}
	dag, err := loader.Open(ctx, root, loader.NewDAGService(pf.src))
	if err != nil {
		t.Fatal(err)
	}
	full, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pf.client = p2ptest.NewHost(t)
	var servers []*offload.Server
	for _, limits := range []offload.Limits{{InFlightPerPeer: 1 << 10}, {}} {
		h := p2ptest.NewHost(t)
		s := offload.NewServer(h, fullModel{full}, limits)
		t.Cleanup(func() { _ = s.Close() })
		pf.client.Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
		pf.peers = append(pf.peers, h.ID())
		servers = append(servers, s)
	}

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

	answer := func() string {
		t.Helper()
		status, body := f.post(t, "/v1/completions", map[string]any{"model": root.String(), "prompt": prompt, "max_tokens": 20, "temperature": 0})
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		return decodeAs[completion](t, body).Choices[0].Text
	}
	text := answer()
	if !strings.HasPrefix(story, text) || len(text) < 20 {
		t.Fatalf("answered %q, not the story %q", text, story)
	}
	if refused, opened := servers[0].Stats().Refused["in_flight_bytes_per_peer"], servers[1].Stats().Opened; refused != 1 || opened == 0 {
		t.Fatalf("the first peer refused %d requests, the second opened %d sessions", refused, opened)
	}
	if got := f.metric(t, "accel_inference_models_fetching"); got != 1 {
		t.Fatalf("%v models fetching, want 1", got)
	}

	close(pf.release)
	f.waitMetric(t, 0, "accel_inference_models_fetching")
	opened := servers[1].Stats().Opened
	if again := answer(); again != text {
		t.Fatalf("pinned, answered %q, not %q", again, text)
	}
	if servers[1].Stats().Opened != opened {
		t.Fatal("pinned, the model still ran layers on the peer")
	}
	if pins, err := f.repo.Pins(ctx); err != nil || len(pins) != 1 || pins[0].CID != root {
		t.Fatalf("pins %v: %v", pins, err)
	}
}
