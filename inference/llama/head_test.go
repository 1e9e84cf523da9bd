package llama_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/synth"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// small is the shape of the synthetic models of these tests.
var small = synth.Shape{Dim: 128, HiddenDim: 256, Layers: 3, Heads: 4, KVHeads: 2, Vocab: 512, SeqLen: 64, Seed: 1}

// synthSource writes a random model of shape small stored as typ and
// returns its hyperparameters, vocabulary and tensors.
func synthSource(t *testing.T, typ gguf.Type) (llama.Config, *tokenizer.Tokenizer, llama.TensorSource) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.gguf")
	if err := synth.WriteFile(path, small, typ); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	c, err := llama.ConfigFromGGUF(g)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := llama.TokenizerFromGGUF(g)
	if err != nil {
		t.Fatal(err)
	}
	return c, tok, func(name string) (llama.Tensor, bool, error) {
		info, ok := g.Tensor(name)
		if !ok {
			return llama.Tensor{}, false, nil
		}
		data, err := g.TensorData(info)
		if err != nil {
			return llama.Tensor{}, true, err
		}
		shape := make([]int, len(info.Dims))
		for i, d := range info.Dims {
			shape[len(shape)-1-i] = int(d)
		}
		tensor, err := llama.GGMLTensor(name, shape, info.Type, data)
		return tensor, true, err
	}
}

// without is src less the tensors named and those of the blocks, unless
// blocks is set.
func without(src llama.TensorSource, blocks bool, names ...string) llama.TensorSource {
	return func(name string) (llama.Tensor, bool, error) {
		if slices.Contains(names, name) || !blocks && strings.HasPrefix(name, "blk.") {
			return llama.Tensor{}, false, nil
		}
		return src(name)
	}
}

// nothing is a source without tensors: a model's hyperparameters and
// vocabulary are all a node has of it.
func nothing(string) (llama.Tensor, bool, error) { return llama.Tensor{}, false, nil }

// wholeModel runs the whole model on a session of full, as a peer would,
// counting its calls.
func wholeModel(full *llama.Model, calls *int) func(pos int, tokens []int, logits []float32) error {
	peer := full.NewSession(llama.SessionOptions{})
	return func(pos int, tokens []int, logits []float32) error {
		*calls++
		peer.Pos = pos
		out, err := peer.Forward(tokens)
		if err != nil {
			return err
		}
		copy(logits, out)
		return nil
	}
}

// chunks are a prompt and then single tokens.
var chunks = [][]int{{1, 300, 301, 302, 303, 304, 305, 306}, {307}, {400}, {401}, {402}, {403}}

// sameLogits runs chunk through s and ref and checks that their logits
// are equal, bit for bit.
func sameLogits(t *testing.T, what string, s, ref *llama.Session, chunk []int) {
	t.Helper()
	want, err := ref.Forward(chunk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Forward(chunk)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(got, want) || s.Pos != ref.Pos {
		t.Fatalf("%s: at position %d the logits differ from the full model's (or its position %d)", what, ref.Pos, s.Pos)
	}
}

// A model that has nothing but its hyperparameters and vocabulary runs the
// whole model through Remote, with the full model's logits; once its head
// arrives, new sessions run it locally and offload the blocks, while the
// sessions already running keep running remotely; once the blocks arrive
// too, it is the full model.
// headless returns a Q8_0 model's source, the whole model, and a partial
// one with nothing loaded.
func headless(t *testing.T) (llama.Config, *tokenizer.Tokenizer, llama.TensorSource, *llama.Model, *llama.Model) {
	t.Helper()
	cfg, tok, src := synthSource(t, gguf.Q8_0)
	full, err := llama.New(cfg, tok, src, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.NewPartial(cfg, tok, nothing, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tok, src, full, m
}

func TestHeadlessRunsRemotely(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  gguf.Type
		prec string
		tied bool
	}{{"q8_0", gguf.Q8_0, "", false}, {"f32 as q8, tied", gguf.F32, "q8", true}} {
		t.Run(c.name, func(t *testing.T) {
			cfg, tok, src := synthSource(t, c.typ)
			if c.tied {
				cfg.TiedOutput, src = true, without(src, true, "output.weight")
			}
			var opts llama.Options
			if c.prec != "" {
				p, err := quant.Preset(c.prec)
				if err != nil {
					t.Fatal(err)
				}
				opts.Precision = p
			}
			full, err := llama.New(cfg, tok, src, opts)
			if err != nil {
				t.Fatal(err)
			}
			m, err := llama.NewPartial(cfg, tok, nothing, opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.HasHead() || m.HasBlock(0) || m.Embed != nil || m.Norm != nil || m.Output != nil {
				t.Fatal("a model built from no tensors has some")
			}
			if bytes, params := m.Size(); m.WeightBytes() != 0 || m.HeldBytes() != 0 || len(m.Matrices()) != 0 || bytes != 0 || params != 0 {
				t.Fatalf("a model without weights holds %d bytes", m.HeldBytes())
			}

			calls := 0
			remote := m.NewSession(llama.SessionOptions{Remote: wholeModel(full, &calls)})
			if remote.Local() || remote.KVCache().Bytes() != 0 {
				t.Fatalf("a remote session is local (%v) or holds a cache of %d bytes", remote.Local(), remote.KVCache().Bytes())
			}
			ref := full.NewSession(llama.SessionOptions{})
			for _, chunk := range chunks[:2] {
				sameLogits(t, "remotely", remote, ref, chunk)
			}

			if err := m.AddHead(without(src, false), opts); err != nil {
				t.Fatal(err)
			}
			if !m.HasHead() || m.HasBlock(0) || m.TiedOutput != c.tied || (m.Output == nil) != c.tied {
				t.Fatalf("after AddHead: head %v, block 0 %v, tied %v", m.HasHead(), m.HasBlock(0), m.TiedOutput)
			}
			offload := full.NewSession(llama.SessionOptions{})
			local := m.NewSession(llama.SessionOptions{Offload: offload.RunLayers})
			localRef := full.NewSession(llama.SessionOptions{})
			for _, chunk := range chunks {
				sameLogits(t, "head local, blocks offloaded", local, localRef, chunk)
			}
			for _, chunk := range chunks[2:] {
				sameLogits(t, "remotely after AddHead", remote, ref, chunk)
			}
			if calls != len(chunks) {
				t.Fatalf("Remote called %d times for %d chunks", calls, len(chunks))
			}

			for l := range m.Layers {
				if err := m.AddBlock(l, src, opts); err != nil {
					t.Fatal(err)
				}
			}
			if m.WeightBytes() != full.WeightBytes() || m.HeldBytes() != full.HeldBytes() {
				t.Fatalf("the completed model streams %d and holds %d bytes, the full one %d and %d",
					m.WeightBytes(), m.HeldBytes(), full.WeightBytes(), full.HeldBytes())
			}
			whole, wholeRef := m.NewSession(llama.SessionOptions{}), full.NewSession(llama.SessionOptions{})
			for _, chunk := range chunks {
				sameLogits(t, "completed", whole, wholeRef, chunk)
			}
		})
	}
}

// The head arrives while sessions run: each runs remotely or locally, as
// the model was when it started, with the same logits.
func TestAddHeadWhileRunning(t *testing.T) {
	_, _, src, full, m := headless(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.AddHead(src, llama.Options{}); err != nil {
			t.Error(err)
		}
	})
	for range 4 {
		calls := 0
		s := m.NewSession(llama.SessionOptions{
			Remote:  wholeModel(full, &calls),
			Offload: full.NewSession(llama.SessionOptions{}).RunLayers,
		})
		ref := full.NewSession(llama.SessionOptions{})
		for _, chunk := range chunks {
			sameLogits(t, fmt.Sprintf("%d remote calls", calls), s, ref, chunk)
		}
		m.Size() // reads what AddHead writes: the race detector checks it is published safely
	}
	wg.Wait()
}

func TestHeadErrors(t *testing.T) {
	cfg, tok, src, full, m := headless(t)
	if _, err := m.NewSession(llama.SessionOptions{}).Forward(chunks[0]); err == nil || !strings.Contains(err.Error(), "no Remote hook") {
		t.Errorf("a head-less session without a Remote hook: %v", err)
	}

	calls := 0
	s := m.NewSession(llama.SessionOptions{Remote: wholeModel(full, &calls)})
	for _, id := range []int{-1, cfg.Vocab} {
		if _, err := s.Forward([]int{1, id}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("token id %d is outside", id)) {
			t.Errorf("token id %d: %v", id, err)
		}
	}
	if _, err := s.Forward(make([]int, cfg.SeqLen+1)); err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("more tokens than the context holds: %v", err)
	}
	if calls != 0 || s.Pos != 0 {
		t.Fatalf("refused tokens called Remote %d times and moved to position %d", calls, s.Pos)
	}
	if _, err := s.Embed([]int{1}); err == nil || !strings.Contains(err.Error(), "remotely") {
		t.Errorf("Embed on a remote session: %v", err)
	}
	if err := s.RunLayers(0, 1, 0, make([]float32, cfg.Dim)); err == nil || !strings.Contains(err.Error(), "remotely") {
		t.Errorf("RunLayers on a remote session: %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "remotely") {
				t.Errorf("Logits on a remote session: %v", r)
			}
		}()
		s.Logits(make([]float32, cfg.Dim))
	}()
	var st llama.Step
	if _, err := st.Forward([]*llama.Session{s}, [][]int{{1}}); err == nil {
		t.Error("a step took a remote session")
	}
	lost := errors.New("peer lost")
	failing := m.NewSession(llama.SessionOptions{Remote: func(int, []int, []float32) error { return lost }})
	if _, err := failing.Forward(chunks[0]); !errors.Is(err, lost) || failing.Pos != 0 {
		t.Errorf("a failing Remote hook: %v, at position %d", err, failing.Pos)
	}

	for _, c := range []struct {
		src  llama.TensorSource
		want string
	}{
		{without(src, true, "output_norm.weight"), `no tensor "output_norm.weight"`},
		{without(src, false, "token_embd.weight"), `no tensor "token_embd.weight"`},
	} {
		if _, err := llama.NewPartial(cfg, tok, c.src, llama.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPartial: %v, want an error with %q", err, c.want)
		}
	}
	if _, err := llama.New(cfg, tok, without(src, true, "token_embd.weight", "output_norm.weight", "output.weight"), llama.Options{}); err == nil || !strings.Contains(err.Error(), `no tensor "token_embd.weight"`) {
		t.Errorf("New without the head: %v", err)
	}

	wrongShape := func(name string) (llama.Tensor, bool, error) {
		tensor, ok, err := src(name)
		if name == "output_norm.weight" {
			tensor.Shape = []int{tensor.Shape[0] / 2}
			tensor.Data = tensor.Data[:len(tensor.Data)/2]
		}
		return tensor, ok, err
	}
	for _, c := range []struct {
		src  llama.TensorSource
		want string
	}{
		{without(src, false, "output_norm.weight"), `no tensor "output_norm.weight"`},
		{without(src, false, "output.weight"), `no tensor "output.weight"`},
		{wrongShape, "output_norm.weight has 64 values"},
	} {
		if err := m.AddHead(c.src, llama.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddHead: %v, want an error with %q", err, c.want)
		}
	}
	if m.HasHead() {
		t.Fatal("a failed AddHead left the head loaded")
	}
	if err := m.AddHead(src, llama.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddHead(src, llama.Options{}); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("adding the head twice: %v", err)
	}
}

// A session limited to a range of layers holds their KV cache alone, runs
// them as a whole-model session does, and refuses the others.
func TestSessionLayerRange(t *testing.T) {
	cfg, tok, src := synthSource(t, gguf.Q8_0)
	full, err := llama.New(cfg, tok, src, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := make([]float32, 3*cfg.Dim)
	for i := range h {
		h[i] = float32(i%7) - 3
	}
	want := slices.Clone(h)
	whole := full.NewSession(llama.SessionOptions{})
	if err := whole.RunLayers(1, 2, 0, want); err != nil {
		t.Fatal(err)
	}
	s := full.NewSession(llama.SessionOptions{Layers: [2]int{1, 2}})
	if err := s.RunLayers(1, 2, 0, h); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h, want) {
		t.Fatal("layer 1 in a session of that layer differs from a whole session's")
	}
	if got, all := s.KVCache().Bytes(), whole.KVCache().Bytes(); got*cfg.Layers != all {
		t.Fatalf("the session of one layer holds %d bytes of KV cache, a whole one %d for %d layers", got, all, cfg.Layers)
	}
	if err := s.RunLayers(0, 2, 3, make([]float32, cfg.Dim)); err == nil || !strings.Contains(err.Error(), "outside the session's [1, 2)") {
		t.Fatalf("layers [0, 2) in a session of [1, 2): %v", err)
	}
	if _, err := s.Forward([]int{1}); err == nil {
		t.Fatal("a session of one layer ran the whole model")
	}
	// A range past the model's ends at its layers.
	wide := full.NewSession(llama.SessionOptions{Layers: [2]int{-1, cfg.Layers + 5}})
	if err := wide.RunLayers(0, cfg.Layers, 0, make([]float32, cfg.Dim)); err != nil {
		t.Fatalf("every layer in a session of [-1, %d): %v", cfg.Layers+5, err)
	}
	if err := wide.RunLayers(0, cfg.Layers+1, 1, make([]float32, cfg.Dim)); err == nil {
		t.Fatalf("layers [0, %d) of a %d-layer model ran", cfg.Layers+1, cfg.Layers)
	}
}
