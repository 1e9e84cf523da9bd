package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/synth"
	"github.com/ipfs-accelerate/accel/loader"
)

// lruModel is a model added for the eviction tests, with the blocks of
// each of its components recorded while it was whole.
type lruModel struct {
	root  cid.Cid
	comps map[string][]cid.Cid // component name -> its blocks
	prio  map[string]int
	// shared are blocks also in a model added later, which present skips.
	shared *cid.Set
}

// share marks m's blocks that other holds.
func (m *lruModel) share(others ...*lruModel) {
	m.shared = cid.NewSet()
	for _, o := range others {
		for _, ks := range o.comps {
			for _, k := range ks {
				m.shared.Add(k)
			}
		}
	}
}

func addAt(t *testing.T, r *Repo, at int64, src loader.Source) *lruModel {
	t.Helper()
	ctx := context.Background()
	r.now = func() time.Time { return time.Unix(at, 0) }
	root, m, err := r.Add(ctx, src, "", loader.ImportOptions{ChunkSize: loader.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	lm := &lruModel{root: root, comps: map[string][]cid.Cid{}, prio: map[string]int{}, shared: cid.NewSet()}
	for _, c := range m.Components {
		lm.prio[c.Name] = c.Priority
		seen := cid.NewSet()
		if err := r.walk(ctx, c.CID, func(k cid.Cid) bool {
			if !seen.Visit(k) {
				return false
			}
			lm.comps[c.Name] = append(lm.comps[c.Name], k)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return lm
}

// present counts the blocks of component name still in the repo.
func (m *lruModel) present(t *testing.T, r *Repo, name string) int {
	t.Helper()
	n := 0
	for _, k := range m.comps[name] {
		if m.shared.Has(k) {
			continue
		}
		if has, err := r.Blocks.Has(context.Background(), k); err != nil {
			t.Fatal(err)
		} else if has {
			n++
		}
	}
	return n
}

func (m *lruModel) whole(t *testing.T, r *Repo) bool {
	for name, ks := range m.comps {
		if m.present(t, r, name) != len(ks)-sharedIn(m, ks) {
			return false
		}
	}
	has, _ := r.Blocks.Has(context.Background(), m.root)
	return has
}

func sharedIn(m *lruModel, ks []cid.Cid) int {
	n := 0
	for _, k := range ks {
		if m.shared.Has(k) {
			n++
		}
	}
	return n
}

func synthModel(t *testing.T, seed uint64) loader.Source {
	t.Helper()
	p := filepath.Join(t.TempDir(), "synth.gguf")
	if err := synth.WriteFile(p, synth.Shape{Dim: 256, HiddenDim: 512, Layers: 3, Heads: 4, KVHeads: 2, Vocab: 512, SeqLen: 64, Seed: seed}, gguf.Q8_0); err != nil {
		t.Fatal(err)
	}
	return loader.Source{Path: p}
}

func repoBytes(t *testing.T, r *Repo) int64 {
	t.Helper()
	st, err := r.RepoStat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Bytes
}

func TestGCToWeightedLRU(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K-f32.gguf")); err != nil {
		t.Skip("test models not present")
	}
	ctx := context.Background()
	dir, r := newTestRepo(t)
	defer func() { r.Close() }()

	a := addAt(t, r, 10_000, synthModel(t, 1)) // oldest
	s := addAt(t, r, 15_000, loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")})
	b := addAt(t, r, 20_000, synthModel(t, 3))                                                  // newer
	c := addAt(t, r, 30_000, synthModel(t, 2))                                                  // newest
	p := addAt(t, r, 5_000, loader.Source{Path: filepath.Join(models, "stories260K-f32.gguf")}) // pinned, oldest of all
	a.share(s, b, c, p)
	s.share(b, c, p) // the same weights as p: only its manifest and tokenizer are its own
	b.share(c, p)
	c.share(p)
	for _, m := range []*lruModel{a, s, b, c} {
		if err := r.Unpin(ctx, m.root); err != nil {
			t.Fatal(err)
		}
	}
	total := repoBytes(t, r)

	// Nothing to do under budget.
	if res, err := r.GCTo(ctx, total); err != nil || res.Blocks != 0 {
		t.Fatalf("GCTo(total) = %+v, %v", res, err)
	}

	// A little over budget: the last layer of the oldest unpinned model goes
	// first, its tokenizer, embed and head and the other models stay.
	res, err := r.GCTo(ctx, total-1)
	if err != nil || res.Blocks == 0 || res.After > total-1 {
		t.Fatalf("GCTo(total-1) = %+v, %v", res, err)
	}
	if n := a.present(t, r, "layer.2"); n == len(a.comps["layer.2"])-sharedIn(a, a.comps["layer.2"]) {
		t.Fatal("a's last layer untouched")
	}
	for _, name := range []string{"tokenizer", "embed", "head", "layer.0", "layer.1"} {
		if a.present(t, r, name) != len(a.comps[name])-sharedIn(a, a.comps[name]) {
			t.Fatalf("a's %s evicted before its last layer", name)
		}
	}
	if !s.whole(t, r) || !b.whole(t, r) || !c.whole(t, r) || !p.whole(t, r) {
		t.Fatal("newer or pinned models touched")
	}

	// State survives reopening: the order is the same after it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err = Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	uses, err := r.LastUse(ctx)
	if err != nil || uses[a.root] != 10_000 || uses[b.root] != 20_000 || uses[s.root] != 15_000 || uses[c.root] != 30_000 || uses[p.root] != 5_000 {
		t.Fatalf("last use after reopening: %v %v", uses, err)
	}

	// Budget that forces out all of a and s and part of b: a and s go
	// whole first (their tokenizers, at 10000 and 15000, weigh less than
	// b's last layer at 20000-60*5), then b's last layer, never c; s's
	// blocks shared with the pinned p stay.
	aBytes, bLayers := int64(0), int64(0)
	sizeOf := func(m *lruModel, ks []cid.Cid) (n int64) {
		for _, k := range ks {
			if m.shared.Has(k) {
				continue
			}
			if s, err := r.Blocks.GetSize(ctx, k); err == nil {
				n += int64(s)
			}
		}
		return n
	}
	for _, m := range []*lruModel{a, s} {
		for _, ks := range m.comps {
			aBytes += sizeOf(m, ks)
		}
		aBytes += sizeOf(m, []cid.Cid{m.root})
	}
	lastB := loader.LayerComponent(len(b.comps) - 4)
	bLayers = sizeOf(b, b.comps[lastB])
	now := repoBytes(t, r)
	budget := now - aBytes - bLayers/2
	if res, err = r.GCTo(ctx, budget); err != nil || res.After > budget {
		t.Fatalf("GCTo = %+v, %v", res, err)
	}
	for _, m := range []*lruModel{a, s} {
		for name := range m.comps {
			if m.present(t, r, name) != 0 {
				t.Fatalf("%s's %s survived", m.root, name)
			}
		}
	}
	if b.present(t, r, lastB) == len(b.comps[lastB])-sharedIn(b, b.comps[lastB]) {
		t.Fatalf("b's %s untouched", lastB)
	}
	for _, name := range []string{"tokenizer", "embed", "head"} {
		if b.present(t, r, name) != len(b.comps[name])-sharedIn(b, b.comps[name]) {
			t.Fatalf("b's %s evicted before its layers", name)
		}
	}
	if !c.whole(t, r) || !p.whole(t, r) {
		t.Fatal("c or the pinned model touched")
	}
	if uses, _ := r.LastUse(ctx); uses[a.root] != 0 {
		t.Fatal("the last use of an evicted manifest stays")
	}

	// A budget below the pinned data: every unpinned block goes, the
	// pinned model stays whole, and GCTo says the budget is not met.
	res, err = r.GCTo(ctx, 1)
	if !errors.Is(err, ErrOverBudget) || res.After <= 1 {
		t.Fatalf("GCTo(1) = %+v, %v", res, err)
	}
	if !p.whole(t, r) {
		t.Fatal("pinned model touched")
	}
	if has, _ := r.Blocks.Has(ctx, c.root); has {
		t.Fatal("unpinned model kept over budget")
	}
	if res.After != repoBytes(t, r) {
		t.Fatalf("After %d, repo %d", res.After, repoBytes(t, r))
	}
}

func TestAddGCsToStorageMax(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t)
	defer r.Close()
	a := addAt(t, r, 1000, synthModel(t, 1))
	if err := r.Unpin(ctx, a.root); err != nil {
		t.Fatal(err)
	}
	// Reading through the repo records a use.
	for i, read := range []func() error{
		func() error { _, err := r.Stat(ctx, a.root); return err },
		func() error { return r.ExportCAR(ctx, a.root, io.Discard) },
	} {
		at := int64(1100 + i)
		r.now = func() time.Time { return time.Unix(at, 0) }
		if err := read(); err != nil {
			t.Fatal(err)
		}
		if uses, err := r.LastUse(ctx); err != nil || uses[a.root] != at {
			t.Fatalf("read %d: last use %v %v", i, uses, err)
		}
	}
	one := repoBytes(t, r)
	r.Config.Datastore.StorageMax = one * 3 / 2
	b := addAt(t, r, 2000, synthModel(t, 2))
	if repoBytes(t, r) > r.Config.Datastore.StorageMax*AutoGCWatermark/100 {
		t.Fatalf("repo %d bytes over %d%% of StorageMax %d", repoBytes(t, r), AutoGCWatermark, r.Config.Datastore.StorageMax)
	}
	if !b.whole(t, r) {
		t.Fatal("the pinned new model was collected")
	}
	if a.present(t, r, "layer.2") != 0 {
		t.Fatal("a's last layer kept")
	}
	// A full gc forgets the roots it removed.
	if err := r.Unpin(ctx, b.root); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if uses, err := r.LastUse(ctx); err != nil || len(uses) != 0 {
		t.Fatalf("last use after gc: %v %v", uses, err)
	}
}

// TestDaemonTrimsToStorageMax leaves unpinned blocks over StorageMax, as
// the gateway does when it fetches for its callers: the daemon trims them
// within a few GCPeriods.
func TestDaemonTrimsToStorageMax(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t)
	r.Config.Datastore.StorageMax = 1 << 20
	r.Config.Datastore.GCPeriod = "50ms"
	for i := range 8 {
		if err := r.Blocks.Put(ctx, blocks.NewBlock(bytes.Repeat([]byte{byte(i)}, 256<<10))); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for deadline := time.Now().Add(10 * time.Second); repoBytes(t, r) > r.Config.Datastore.StorageMax; {
		if time.Now().After(deadline) {
			t.Fatalf("the repo still holds %d bytes, over its StorageMax of %d", repoBytes(t, r), r.Config.Datastore.StorageMax)
		}
		time.Sleep(20 * time.Millisecond)
	}

}
