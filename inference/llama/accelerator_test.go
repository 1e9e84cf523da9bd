package llama

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// cpuAccelerator takes the blocks in takes and runs them on a session of
// its own, as a device would, recording the runs it is asked for and
// whether each wrote logits.
type cpuAccelerator struct {
	takes []int
	inner *Session
	runs  [][3]int // from, to, 1 when logits
}

func (a *cpuAccelerator) Takes(l int) bool { return slices.Contains(a.takes, l) }

func (a *cpuAccelerator) Run(from, to, pos int, h, logits []float32) error {
	head := 0
	if logits != nil {
		head = 1
	}
	if !slices.Contains(a.runs, [3]int{from, to, head}) {
		a.runs = append(a.runs, [3]int{from, to, head})
	}
	if err := a.inner.RunLayers(from, to, pos, h); err != nil {
		return err
	}
	if logits != nil {
		copy(logits, a.inner.Logits(h[len(h)-a.inner.model.Dim:]))
		clear(h) // undefined for the caller
	}
	return nil
}

// A session hands the runs of blocks its Accelerator takes to it, the
// head too when a run ends the model, and gives the same greedy tokens;
// its own cache leaves those blocks out, and it is not Local. With
// offloaded blocks between them the runs split around them. A session
// with a sliding window runs every block itself.
func TestAcceleratorRuns(t *testing.T) {
	full := stories(t, nil)
	ref := full.NewSession(SessionOptions{})
	want := greedyTokens(t, ref, 30)
	perLayer := ref.KVCache().Bytes() / full.Layers
	for _, c := range []struct {
		name  string
		local []int // the blocks the model holds (nil: all)
		takes []int
		runs  [][3]int
	}{
		{"all", nil, []int{0, 1, 2, 3, 4}, [][3]int{{0, 5, 1}}},
		{"middle", nil, []int{1, 2}, [][3]int{{1, 3, 0}}},
		{"tail", nil, []int{3, 4}, [][3]int{{3, 5, 1}}},
		{"around offloaded", []int{0, 1, 3, 4}, []int{0, 1, 3, 4}, [][3]int{{0, 2, 0}, {3, 5, 1}}},
	} {
		m := full
		var ranges [][2]int
		opts := SessionOptions{Accelerator: &cpuAccelerator{takes: c.takes, inner: full.NewSession(SessionOptions{})}}
		if c.local != nil {
			var err error
			if m, err = NewPartial(full.Config, full.Tokenizer, source(full, func(l int) bool { return slices.Contains(c.local, l) }), Options{}); err != nil {
				t.Fatal(err)
			}
			opts.Offload = remoteHook(full, &ranges)
		}
		s := m.NewSession(opts)
		if got := greedyTokens(t, s, len(want)); !slices.Equal(got, want) {
			t.Fatalf("%s: greedy tokens %v, the full model's %v", c.name, got, want)
		}
		if runs := opts.Accelerator.(*cpuAccelerator).runs; !slices.Equal(runs, c.runs) {
			t.Errorf("%s: the accelerator ran %v, want %v", c.name, runs, c.runs)
		}
		held := full.Layers - len(c.takes)
		if c.local != nil {
			held = len(c.local) - len(c.takes)
		}
		if got := s.KVCache().Bytes(); got != perLayer*held || s.Local() {
			t.Errorf("%s: cache of %d bytes, local %v; want %d bytes and not local", c.name, got, s.Local(), perLayer*held)
		}
	}

	a := &cpuAccelerator{takes: []int{0, 1, 2, 3, 4}, inner: full.NewSession(SessionOptions{})}
	s := full.NewSession(SessionOptions{Window: 8, Accelerator: a})
	if _, err := s.Forward(prompt); err != nil {
		t.Fatal(err)
	}
	if len(a.runs) != 0 || !s.Local() {
		t.Errorf("with a sliding window the accelerator ran %v", a.runs)
	}
}

// failingAccelerator takes every block and fails.
type failingAccelerator struct{ err error }

func (failingAccelerator) Takes(int) bool                                  { return true }
func (a failingAccelerator) Run(int, int, int, []float32, []float32) error { return a.err }

// An accelerator's failure fails the pass, naming the blocks and wrapping
// the error.
func TestAcceleratorFails(t *testing.T) {
	m := stories(t, nil)
	gone := errors.New("device lost")
	_, err := m.NewSession(SessionOptions{Accelerator: failingAccelerator{gone}}).Forward(prompt)
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), "accelerated layers [0, 5)") {
		t.Fatalf("a failing accelerator: %v", err)
	}
}
