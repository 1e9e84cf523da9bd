package llama

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/sample"
)

// source yields the tensors of m: those outside the blocks, and those of
// the blocks keep admits.
func source(m *Model, keep func(l int) bool) TensorSource {
	byName := map[string]Tensor{}
	m.eachWeight(func(spec TensorSpec, field any) error {
		switch f := field.(type) {
		case *[]float32:
			byName[spec.Name] = Tensor{Name: spec.Name, Shape: []int{len(*f)}, Format: quant.FormatF32, Data: quant.Float32Bytes(*f)}
		case **quant.Matrix:
			if *f != nil {
				byName[spec.Name] = Tensor{Name: spec.Name, Shape: []int{(*f).Rows, (*f).Cols}, Format: (*f).Format, Data: (*f).Data}
			}
		}
		return nil
	})
	return func(name string) (Tensor, bool, error) {
		var l int
		if _, err := fmt.Sscanf(name, "blk.%d.", &l); err == nil && !keep(l) {
			return Tensor{}, false, nil
		}
		t, ok := byName[name]
		return t, ok, nil
	}
}

// greedyTokens prefills prompt and then decodes n tokens greedily.
func greedyTokens(t *testing.T, s *Session, n int) []int {
	t.Helper()
	logits, err := s.Forward(prompt)
	var out []int
	for len(out) < n {
		if err != nil {
			t.Fatal(err)
		}
		next := sample.Argmax(logits)
		out = append(out, next)
		logits, err = s.Forward([]int{next})
	}
	return out
}

// remoteHook runs offloaded layers on a session of the full model, as a
// peer would, and records the ranges it is asked for.
func remoteHook(full *Model, ranges *[][2]int) func(from, to, pos int, h []float32) error {
	peer := full.NewSession(SessionOptions{})
	return func(from, to, pos int, h []float32) error {
		if !slices.Contains(*ranges, [2]int{from, to}) {
			*ranges = append(*ranges, [2]int{from, to})
		}
		return peer.RunLayers(from, to, pos, h)
	}
}

func TestPartialMatchesFull(t *testing.T) {
	full := stories(t, nil)
	ref := full.NewSession(SessionOptions{})
	want := greedyTokens(t, ref, 40)
	perLayer := ref.KVCache().Bytes() / full.Layers
	for _, c := range []struct {
		name   string
		local  []int
		ranges [][2]int
	}{
		{"none", nil, [][2]int{{0, 5}}},
		{"first", []int{0, 1}, [][2]int{{2, 5}}},
		{"scattered", []int{1, 3}, [][2]int{{0, 1}, {2, 3}, {4, 5}}},
		{"all", []int{0, 1, 2, 3, 4}, nil},
	} {
		m, err := NewPartial(full.Config, full.Tokenizer, source(full, func(l int) bool { return slices.Contains(c.local, l) }), Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for l := range m.Layers {
			if m.HasBlock(l) != slices.Contains(c.local, l) {
				t.Fatalf("%s: HasBlock(%d) = %v", c.name, l, m.HasBlock(l))
			}
		}
		var ranges [][2]int
		s := m.NewSession(SessionOptions{Offload: remoteHook(full, &ranges)})
		if got := greedyTokens(t, s, len(want)); !slices.Equal(got, want) {
			t.Fatalf("%s: greedy tokens %v, the full model's %v", c.name, got, want)
		}
		if !slices.Equal(ranges, c.ranges) {
			t.Errorf("%s: offloaded %v, want %v", c.name, ranges, c.ranges)
		}
		// The session's own cache holds only its layers.
		if got := s.KVCache().Bytes(); got != perLayer*len(c.local) {
			t.Errorf("%s: cache of %d bytes for %d local layers, want %d", c.name, got, len(c.local), perLayer*len(c.local))
		}
	}
}

func TestPartialNeedsHook(t *testing.T) {
	full := stories(t, nil)
	m, err := NewPartial(full.Config, full.Tokenizer, source(full, func(l int) bool { return l != 1 && l != 3 }), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.NewSession(SessionOptions{}).Forward(prompt)
	if err == nil || !strings.Contains(err.Error(), "layers [1 3] are not loaded") {
		t.Fatalf("a session without a hook over a partial model: %v", err)
	}
	if _, err := NewPartial(full.Config, full.Tokenizer, func(name string) (Tensor, bool, error) {
		if name == "token_embd.weight" {
			return Tensor{}, false, nil
		}
		return source(full, func(int) bool { return true })(name)
	}, Options{}); err == nil || !strings.Contains(err.Error(), "token_embd") {
		t.Fatalf("a partial model without the embedding: %v", err)
	}
}

func TestAddBlock(t *testing.T) {
	full := stories(t, nil)
	all := source(full, func(int) bool { return true })
	m, err := NewPartial(full.Config, full.Tokenizer, source(full, func(int) bool { return false }), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrongShape := func(name string) (Tensor, bool, error) {
		tt, ok, err := all(name)
		if name == "blk.0.ffn_gate.weight" {
			tt.Shape = []int{tt.Shape[1], tt.Shape[0]}
		}
		return tt, ok, err
	}
	incomplete := func(name string) (Tensor, bool, error) {
		if name == "blk.0.ffn_up.weight" {
			return Tensor{}, false, nil
		}
		return all(name)
	}
	for _, c := range []struct {
		l    int
		src  TensorSource
		want string
	}{
		{-1, all, "outside"}, {m.Layers, all, "outside"},
		{0, wrongShape, "ffn_gate.weight is 64×172"},
		{0, incomplete, `no tensor "blk.0.ffn_up.weight"`},
	} {
		if err := m.AddBlock(c.l, c.src, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddBlock(%d): %v, want an error with %q", c.l, err, c.want)
		}
	}
	if m.HasBlock(0) {
		t.Fatal("a failed AddBlock left block 0 loaded")
	}

	// Blocks arrive while sessions generate; every mix gives the same tokens.
	want := greedyTokens(t, full.NewSession(SessionOptions{}), 20)
	var wg sync.WaitGroup
	wg.Go(func() {
		for l := m.Layers - 1; l >= 0; l-- {
			if err := m.AddBlock(l, all, Options{}); err != nil {
				t.Error(err)
			}
		}
	})
	for range 3 {
		var ranges [][2]int
		s := m.NewSession(SessionOptions{Offload: remoteHook(full, &ranges)})
		if got := greedyTokens(t, s, len(want)); !slices.Equal(got, want) {
			t.Fatalf("offloading %v: greedy tokens %v, want %v", ranges, got, want)
		}
		m.Size() // reads the blocks loaded so far
	}
	wg.Wait()
	if err := m.AddBlock(2, all, Options{}); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Fatalf("adding a block twice: %v", err)
	}
	if got := greedyTokens(t, m.NewSession(SessionOptions{}), len(want)); !slices.Equal(got, want) {
		t.Fatalf("the completed model gives %v, want %v", got, want)
	}
	if a, b := m.WeightBytes(), full.WeightBytes(); a != b {
		t.Fatalf("the completed model streams %d bytes, the full one %d", a, b)
	}
}

// A removed block is offloaded by the sessions created afterwards, with
// the same tokens, and can be added again.
func TestRemoveBlock(t *testing.T) {
	full := stories(t, nil)
	all := source(full, func(int) bool { return true })
	m, err := NewPartial(full.Config, full.Tokenizer, all, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := greedyTokens(t, full.NewSession(SessionOptions{}), 20)
	if err := m.RemoveBlock(1); err != nil {
		t.Fatal(err)
	}
	if m.HasBlock(1) || m.WeightBytes() >= full.WeightBytes() {
		t.Fatalf("block 1 still loaded (%v) or counted (%d of %d bytes)", m.HasBlock(1), m.WeightBytes(), full.WeightBytes())
	}
	for _, c := range []struct {
		l    int
		want string
	}{{1, "not loaded"}, {-1, "outside"}, {m.Layers, "outside"}} {
		if err := m.RemoveBlock(c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("RemoveBlock(%d): %v, want an error with %q", c.l, err, c.want)
		}
	}
	var ranges [][2]int
	if got := greedyTokens(t, m.NewSession(SessionOptions{Offload: remoteHook(full, &ranges)}), len(want)); !slices.Equal(got, want) || !slices.Equal(ranges, [][2]int{{1, 2}}) {
		t.Fatalf("offloading %v: greedy tokens %v, want %v offloading [[1 2]]", ranges, got, want)
	}
	if err := m.AddBlock(1, all, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := greedyTokens(t, m.NewSession(SessionOptions{}), len(want)); !slices.Equal(got, want) {
		t.Fatalf("block 1 added back: %v, want %v", got, want)
	}
}
