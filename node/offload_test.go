package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	accelbs "github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/offload"
)

// A running node serves offload sessions for the models it holds whole,
// and only for those.
func TestDaemonServesOffload(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K-f32.gguf")); err != nil {
		t.Skip("test models not present")
	}
	ctx := context.Background()
	_, r := newTestRepo(t)
	root, m, err := r.Add(ctx, loader.Source{Path: filepath.Join(models, "stories260K-f32.gguf")}, "", loader.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	client := p2ptest.NewHost(t)
	client.Peerstore().AddAddrs(n.Host.ID(), n.Host.Addrs(), time.Hour)

	dag, err := r.Model(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	full, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	part, err := dag.PartialLlamaModel(ctx, llama.Options{}, func(c string) bool {
		return loader.Priority(c) <= loader.Priority(loader.LayerComponent(0))
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := offload.Dial(ctx, client, n.Host.ID(), root, 1, full.Layers, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if n.Offload.ActiveSessions() != 1 {
		t.Fatalf("%d active sessions, want 1", n.Offload.ActiveSessions())
	}
	want, err := full.NewSession(llama.SessionOptions{}).Forward([]int{1, 403, 407})
	if err != nil {
		t.Fatal(err)
	}
	got, err := part.NewSession(llama.SessionOptions{Offload: sess.RunLayers}).Forward([]int{1, 403, 407})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("logits with layers 1… on the node differ from the local model's")
	}

	// Models not here, or not whole, are not served.
	mh, _ := multihash.Sum([]byte("elsewhere"), multihash.SHA2_256, -1)
	if _, err := (localModels{n}).Model(ctx, cid.NewCidV1(cid.DagCBOR, mh)); !errors.Is(err, offload.ErrNoModel) {
		t.Errorf("a model the repo lacks: %v", err)
	}
	head, _ := m.Component(loader.ComponentHead)
	if err := r.Blocks.DeleteBlock(ctx, head.CID); err != nil {
		t.Fatal(err)
	}
	if _, err := (localModels{n}).Model(ctx, root); !errors.Is(err, offload.ErrNoModel) {
		t.Errorf("a model missing a block: %v", err)
	}
	// A block corrupted on disk fails the load: the node never computes
	// with bytes that do not match their CID.
	corrupt, err := blocks.NewBlockWithCid([]byte("not the head"), head.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Blocks.Put(ctx, corrupt); err != nil {
		t.Fatal(err)
	}
	if _, err := (localModels{n}).Model(ctx, root); !errors.Is(err, accelbs.ErrHashMismatch) {
		t.Errorf("a model with a corrupt block: %v", err)
	}
	// A model the inference service holds whole is served as it is, and
	// the repo is read for the others.
	n.ShareModels(loadedModel{root, full})
	if got, err := (localModels{n}).Model(ctx, root); err != nil || got != full {
		t.Errorf("the shared model: %p, %v; want %p", got, err, full)
	}
	if _, err := (localModels{n}).Model(ctx, cid.NewCidV1(cid.DagCBOR, mh)); !errors.Is(err, offload.ErrNoModel) {
		t.Errorf("a model neither shared nor here: %v", err)
	}
}

// loadedModel is LoadedModels of one model.
type loadedModel struct {
	root  cid.Cid
	model *llama.Model
}

func (l loadedModel) Loaded(root cid.Cid) *llama.Model {
	if root == l.root {
		return l.model
	}
	return nil
}

// FetchViable makes local what a model needs to answer while peers run the
// rest of it, its tokenizer alone; DialOffload runs the whole model on a
// connected peer that holds it, and PinAdd fetches the rest.
func TestFetchViableThenOffload(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K-f32.gguf")); err != nil {
		t.Skip("test models not present")
	}
	ctx := context.Background()
	a, b := startTestNode(t), startTestNode(t)
	root, err := a.AddModel(ctx, loader.Source{Path: filepath.Join(models, "stories260K-f32.gguf")}, AddOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.DialOffload(ctx, root, 0, 1, 0); err == nil {
		t.Fatal("a session opened with no peer connected")
	}
	if err := b.Host.Connect(ctx, peer.AddrInfo{ID: a.Host.ID(), Addrs: a.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchViable(ctx, root); err != nil {
		t.Fatal(err)
	}
	dag, err := b.LocalModel(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range dag.Manifest.Components {
		if has, err := b.Blocks.Has(ctx, c.CID); err != nil || has != (c.Name == loader.ComponentTokenizer) {
			t.Errorf("%s local: %v (%v)", c.Name, has, err)
		}
	}
	part, err := dag.PartialLlamaModel(ctx, llama.Options{}, func(c string) bool { return c == loader.ComponentTokenizer })
	if err != nil {
		t.Fatal(err)
	}
	sess, err := b.DialOffload(ctx, root, 0, dag.Manifest.Hyperparameters.Layers, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	got, err := part.NewSession(llama.SessionOptions{Remote: sess.RunTokens}).Forward([]int{1, 403, 407})
	if err != nil {
		t.Fatal(err)
	}
	if opened := a.Offload.Stats().Opened; opened != 1 {
		t.Fatalf("the peer opened %d sessions, want 1", opened)
	}
	if err := b.PinAdd(ctx, root, "", nil); err != nil {
		t.Fatal(err)
	}
	full, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := full.NewSession(llama.SessionOptions{}).Forward([]int{1, 403, 407})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("the logits the peer computed differ from the local model's")
	}
}
