package loader

import (
	"context"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/llama"
)

// A partial model reads only the components it is given; the layers added
// later complete it into the model LlamaModel builds.
func TestPartialLlamaModel(t *testing.T) {
	ctx := context.Background()
	whole, bs := openModel(t, llama2cSource(t), ImportOptions{})
	full, err := whole.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	getter := &countingGetter{NodeGetter: NewDAGService(bs), fetched: map[cid.Cid]bool{}}
	m, err := Open(ctx, whole.Root, getter)
	if err != nil {
		t.Fatal(err)
	}
	// The last layer's blocks are not here yet.
	last, _ := m.Manifest.Component(LayerComponent(full.Layers - 1))
	blk, err := bs.Get(ctx, last.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.DeleteBlock(ctx, last.CID); err != nil {
		t.Fatal(err)
	}

	have := func(c string) bool { return c != ComponentEmbed }
	if _, err := m.PartialLlamaModel(ctx, llama.Options{}, have); err == nil || !strings.Contains(err.Error(), "needs the embed component") {
		t.Fatalf("a partial model without the embedding: %v", err)
	}
	have = func(c string) bool { return Priority(c) < Priority(LayerComponent(1)) }
	part, err := m.PartialLlamaModel(ctx, llama.Options{}, have)
	if err != nil {
		t.Fatal(err)
	}
	for l := range part.Layers {
		if part.HasBlock(l) != (l == 0) {
			t.Fatalf("HasBlock(%d) = %v", l, part.HasBlock(l))
		}
		if c, _ := m.Manifest.Component(LayerComponent(l)); l > 0 && getter.fetched[c.CID] {
			t.Fatalf("building the partial model read component %s", c.Name)
		}
	}

	for l := 1; l < part.Layers-1; l++ {
		if err := m.AddLayer(ctx, part, l, llama.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddLayer(ctx, part, part.Layers-1, llama.Options{}); err == nil || part.HasBlock(part.Layers-1) {
		t.Fatalf("adding a layer whose blocks are missing: %v", err)
	}
	if err := bs.Put(ctx, blk); err != nil {
		t.Fatal(err)
	}
	if err := m.AddLayer(ctx, part, part.Layers-1, llama.Options{}); err != nil {
		t.Fatal(err)
	}
	if got, want := greedy(t, part), greedy(t, full); got != want {
		t.Fatalf("the completed partial model generates\n%q\nthe whole one\n%q", got, want)
	}
}

// A held component is read once: its blocks may go, and the model built
// afterwards generates as the whole one does.
func TestHoldComponents(t *testing.T) {
	ctx := context.Background()
	whole, bs := openModel(t, llama2cSource(t), ImportOptions{})
	full, err := whole.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, whole.Root, NewDAGService(bs))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Manifest.Components {
		if err := m.Hold(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
		if err := bs.DeleteBlock(ctx, c.CID); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Hold(ctx, "layer.99"); err == nil {
		t.Fatal("holding a component the model lacks gave no error")
	}
	held, err := m.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatalf("building from held components with their blocks gone: %v", err)
	}
	if got, want := greedy(t, held), greedy(t, full); got != want {
		t.Fatalf("the model built from held components generates\n%q\nthe whole one\n%q", got, want)
	}
}
