package loader

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/synth"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// copyWalk walks root, each level copied from src into a new store, and
// returns the levels fetched, the CIDs read back and that store.
type copyWalk struct {
	src, dst  blockstore.Blockstore
	levels    [][]cid.Cid
	read      []cid.Cid
	manifests []*Manifest
	sizes     []int
	// plan, when set, is the walk's Plan; it is recorded either way.
	plan func(m *Manifest) ([]Component, error)
}

func newCopyWalk(src blockstore.Blockstore) *copyWalk {
	return &copyWalk{src: src, dst: newStore()}
}

func (w *copyWalk) walk(ctx context.Context, root cid.Cid) error {
	return Walker{
		Fetch: func(ctx context.Context, level []cid.Cid) error {
			w.levels = append(w.levels, level)
			for _, c := range level {
				b, err := w.src.Get(ctx, c)
				if err != nil {
					return err
				}
				if err := w.dst.Put(ctx, b); err != nil {
					return err
				}
			}
			return nil
		},
		Get: func(ctx context.Context, c cid.Cid) (blocks.Block, error) {
			w.read = append(w.read, c)
			return w.dst.Get(ctx, c)
		},
		Plan: func(m *Manifest, size int) ([]Component, error) {
			w.manifests = append(w.manifests, m)
			w.sizes = append(w.sizes, size)
			if w.plan == nil {
				return m.Components, nil
			}
			return w.plan(m)
		},
	}.Walk(ctx, root)
}

// keys returns the CIDs in bs.
func keys(t *testing.T, bs blockstore.Blockstore) *cid.Set {
	t.Helper()
	ch, err := bs.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	set := cid.NewSet()
	for c := range ch {
		set.Add(c)
	}
	return set
}

// Walking a model DAG from its manifest fetches every block once, the
// components the plan chose right below the manifest, in its order; only
// blocks that link are read back.
func TestWalkModel(t *testing.T) {
	ctx := context.Background()
	src, root, man := walkModel(t)
	w := newCopyWalk(src)
	if err := w.walk(ctx, root); err != nil {
		t.Fatal(err)
	}

	rootBlock, _ := src.Get(ctx, root)
	if len(w.manifests) != 1 || w.manifests[0].Size() != man.Size() || w.sizes[0] != len(rootBlock.RawData()) {
		t.Fatalf("Plan called %d times (sizes %v)", len(w.manifests), w.sizes)
	}
	if len(w.levels) < 3 || len(w.levels[0]) != 1 || w.levels[0][0] != root {
		t.Fatalf("levels %v: want the manifest alone first", w.levels)
	}
	if len(w.levels[1]) != len(man.Components) {
		t.Fatalf("%d blocks below the manifest, want its %d components", len(w.levels[1]), len(man.Components))
	}
	for i, c := range w.levels[1] {
		if c != man.Components[i].CID {
			t.Errorf("block %d below the manifest is %v, want component %s", i, c, man.Components[i].Name)
		}
	}

	// The components' blocks, found by boxo's own walk.
	blocksOf := componentBlocks(t, src, man.Components)
	fetched := cid.NewSet()
	for _, level := range w.levels[1:] {
		for _, c := range level {
			if !fetched.Visit(c) {
				t.Errorf("%s fetched twice", c)
			}
			if blocksOf[c] == "" {
				t.Errorf("%s fetched, no component holds it", c)
			}
		}
	}
	if fetched.Len() != len(blocksOf) || keys(t, w.dst).Len() != keys(t, src).Len() {
		t.Errorf("fetched %d component blocks of %d; %d blocks of %d copied", fetched.Len(), len(blocksOf), keys(t, w.dst).Len(), keys(t, src).Len())
	}
	leaves := 0
	for k := range blocksOf {
		if k.Type() == cid.Raw {
			leaves++
		}
	}
	if leaves < 20 || len(w.read) != 1+len(blocksOf)-leaves {
		t.Errorf("read back %d blocks of %d, %d of them raw leaves", len(w.read), 1+len(blocksOf), leaves)
	}
	for _, c := range w.read {
		if c.Type() == cid.Raw {
			t.Errorf("read back raw leaf %s", c)
		}
	}
}

// A walk fetches only the components its plan chose, in the plan's order:
// the browser's minimum viable model leaves the layers to a peer.
func TestWalkFollowsThePlan(t *testing.T) {
	ctx := context.Background()
	src, root, man := walkModel(t)
	w := newCopyWalk(src)
	w.plan = func(m *Manifest) ([]Component, error) {
		p, err := Plan(m, PlanOptions{Offload: true, Budget: 1})
		return p.Fetch, err
	}
	if err := w.walk(ctx, root); err != nil {
		t.Fatal(err)
	}
	var want []Component
	for _, name := range []string{ComponentTokenizer, ComponentEmbed, ComponentHead} {
		c, _ := man.Component(name)
		want = append(want, *c)
	}
	if len(w.levels) < 2 || len(w.levels[1]) != len(want) {
		t.Fatalf("levels %v: want the tokenizer, embed and head below the manifest", w.levels)
	}
	for i, c := range want {
		if w.levels[1][i] != c.CID {
			t.Errorf("component %d fetched is %v, want %s", i, w.levels[1][i], c.Name)
		}
	}
	blocksOf := componentBlocks(t, src, man.Components)
	for _, level := range w.levels[1:] {
		for _, c := range level {
			if name := blocksOf[c]; name != ComponentTokenizer && name != ComponentEmbed && name != ComponentHead {
				t.Errorf("%s of component %q fetched", c, name)
			}
		}
	}

	boom := errors.New("no plan")
	w = newCopyWalk(src)
	w.plan = func(*Manifest) ([]Component, error) { return nil, boom }
	if err := w.walk(ctx, root); !errors.Is(err, boom) {
		t.Errorf("walk with a failing plan: %v", err)
	}
}

// walkModel stores a small synthetic model in 256 KiB chunks, and returns
// the store, its root and its manifest.
func walkModel(t *testing.T) (blockstore.Blockstore, cid.Cid, *Manifest) {
	shape := synth.Shape{Dim: 256, HiddenDim: 768, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512, SeqLen: 32, Seed: 3}
	src := newStore()
	root, man := importInto(t, src, Source{Path: writeSynth(t, shape, gguf.F32)}, ImportOptions{ChunkSize: MinChunkSize})
	return src, root, man
}

// componentBlocks names the component that holds each block of components,
// found by boxo's walk.
func componentBlocks(t *testing.T, bs blockstore.Blockstore, components []Component) map[cid.Cid]string {
	t.Helper()
	owner := map[cid.Cid]string{}
	dag := dagstore.DAGService(bs)
	for _, c := range components {
		err := merkledag.Walk(context.Background(), merkledag.GetLinksWithDAG(dag), c.CID, func(k cid.Cid) bool {
			owner[k] = c.Name
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return owner
}

// otherDAG stores a DAG that is no model: a dag-cbor root linking to a
// leaf and to a dag-pb node that links to that leaf twice and to another
// leaf. It returns the store, the root and the blocks' names.
func otherDAG(t *testing.T) (blockstore.Blockstore, cid.Cid, map[cid.Cid]string) {
	bs := newStore()
	put := func(b blocks.Block) cid.Cid { return putBlock(t, bs, b) }
	leaf := func(s string) cid.Cid {
		c, _ := FilePrefix.WithCodec(cid.Raw).Sum([]byte(s))
		b, _ := blocks.NewBlockWithCid([]byte(s), c)
		return put(b)
	}
	a, b := leaf("a"), leaf("b")
	pb := merkledag.NodeWithData(nil)
	if err := pb.SetCidBuilder(FilePrefix); err != nil {
		t.Fatal(err)
	}
	for _, l := range []cid.Cid{a, a, b} {
		pb.AddRawLink("", &ipld.Link{Cid: l})
	}
	pbCID := put(pb)
	n, err := qp.BuildMap(basicnode.Prototype.Any, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "leaf", qp.Link(cidlink.Link{Cid: a}))
		qp.MapEntry(ma, "node", qp.Link(cidlink.Link{Cid: pbCID}))
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	c, _ := ManifestPrefix.Sum(buf.Bytes())
	rb, _ := blocks.NewBlockWithCid(buf.Bytes(), c)
	root := put(rb)
	return bs, root, map[cid.Cid]string{root: "root", a: "a", b: "b", pbCID: "pb"}
}

// Any DAG walks the same, each block once, in link order.
func TestWalkOtherDAG(t *testing.T) {
	src, root, names := otherDAG(t)
	w := newCopyWalk(src)
	if err := w.walk(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, level := range w.levels {
		var in []string
		for _, c := range level {
			in = append(in, names[c])
		}
		got = append(got, strings.Join(in, ","))
	}
	if want := "root|a,pb|b"; strings.Join(got, "|") != want {
		t.Errorf("levels %s, want %s", strings.Join(got, "|"), want)
	}
	if len(w.manifests) != 0 {
		t.Error("Plan called for a DAG that is no model")
	}
}

// A failing fetch ends the walk with its error; a block that Fetch did
// not make available is an error naming it.
func TestWalkErrors(t *testing.T) {
	ctx := context.Background()
	src, root, names := otherDAG(t)
	boom := errors.New("boom")
	levels := 0
	err := Walker{
		Fetch: func(context.Context, []cid.Cid) error {
			if levels++; levels == 2 {
				return boom
			}
			return nil
		},
		Get: src.Get,
	}.Walk(ctx, root)
	if !errors.Is(err, boom) || levels != 2 {
		t.Errorf("after %d levels: %v", levels, err)
	}

	var pb cid.Cid
	for c, name := range names {
		if name == "pb" {
			pb = c
		}
	}
	w := newCopyWalk(src)
	if err := src.DeleteBlock(ctx, pb); err != nil {
		t.Fatal(err)
	}
	if err := w.walk(ctx, root); err == nil || !strings.Contains(err.Error(), pb.String()) {
		t.Errorf("walk without the dag-pb node: %v", err)
	}
}
