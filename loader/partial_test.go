package loader

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
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
	getter := &countingGetter{BlockGetter: bs, fetched: map[cid.Cid]bool{}}
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
	if _, err := m.PartialLlamaModel(ctx, llama.Options{}, have); err == nil || !strings.Contains(err.Error(), "needs the embed and head components, or neither") {
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
	m, err := Open(ctx, whole.Root, bs)
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

// externalFile holds a component file as a device would: matrices held on
// it (quant.NewHeldMatrix), computed as the CPU does.
type externalFile struct {
	data     []byte
	matrices map[*quant.Matrix][]byte // their rows
}

func (e *externalFile) ReadAt(p []byte, off int64) (int, error) { return copy(p, e.data[off:]), nil }

func (e *externalFile) Matrix(off int64, rows, cols int, f quant.Format) (*quant.Matrix, error) {
	m, err := quant.NewHeldMatrix(rows, cols, f, e)
	if err == nil {
		e.matrices[m] = e.data[off : off+int64(m.Size())]
	}
	return m, err
}

func (e *externalFile) MatMul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	for i, m := range ms {
		cpu, err := quant.NewMatrix(m.Rows, m.Cols, m.Format, e.matrices[m])
		if err != nil {
			return err
		}
		cpu.MatMul(dsts[i], x)
	}
	return nil
}

func (e *externalFile) ReadRow(m *quant.Matrix, i int, dst []byte) {
	copy(dst, e.matrices[m][i*m.RowBytes():])
}

// Components held externally give the model their matrices held in place
// and copies of their norms, and it generates as the whole one does.
func TestHoldExternal(t *testing.T) {
	ctx := context.Background()
	whole, bs := openModel(t, llama2cSource(t), ImportOptions{})
	full, err := whole.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, whole.Root, bs)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*externalFile{}
	for _, c := range m.Manifest.Components[1:] { // all but the tokenizer
		data, err := m.ReadComponent(ctx, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		files[c.Name] = &externalFile{data: data, matrices: map[*quant.Matrix][]byte{}}
		m.HoldExternal(c.Name, files[c.Name])
		if err := bs.DeleteBlock(ctx, c.CID); err != nil {
			t.Fatal(err)
		}
	}
	held, err := m.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatalf("building from components held externally: %v", err)
	}
	for _, nm := range held.Matrices() {
		if nm.Matrix.Data != nil || nm.Matrix.Device() == nil {
			t.Fatalf("matrix %s is not held externally", nm.Name)
		}
	}
	if got, want := greedy(t, held), greedy(t, full); got != want {
		t.Fatalf("the model built from components held externally generates\n%q\nthe whole one\n%q", got, want)
	}
	if data, err := m.ReadComponent(ctx, ComponentHead); err != nil || !bytes.Equal(data, files[ComponentHead].data) {
		t.Fatalf("reading the head back: %v", err)
	}
}
