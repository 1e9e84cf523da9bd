//go:build !js

package offload

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/sample"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// A whole-model session runs token ids: its logits are, bit for bit, those
// of a local session run on the same tokens in the same order, rewinds and
// Forwards between them included.
func TestRunTokensMatchesLocal(t *testing.T) {
	f := newFixture(t, Limits{})
	layers, vocab := f.full.Layers, f.full.Vocab
	c := f.dial(t, 0, layers, 0)
	local := f.full.NewSession(llama.SessionOptions{})
	got := make([]float32, vocab)
	run := func(pos int, ids []int) {
		t.Helper()
		if err := c.RunTokens(pos, ids, got); err != nil {
			t.Fatalf("tokens %v at %d: %v", ids, pos, err)
		}
		local.Pos = pos
		want, err := local.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("tokens %v at %d: the peer's logits differ from the local session's", ids, pos)
		}
	}

	run(0, prompt)
	pos := len(prompt)
	for range 4 {
		run(pos, []int{sample.Argmax(got)})
		pos++
	}
	// Rewind over the last three positions, then continue.
	pos -= 3
	run(pos, []int{7, 9})
	pos += 2
	run(pos, []int{sample.Argmax(got)})
	pos++

	// A Forward in the same session continues its positions, and Tokens
	// continue after it.
	h, err := local.Embed([]int{sample.Argmax(got)})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(h)
	if err := c.Forward(pos, h); err != nil {
		t.Fatal(err)
	}
	if err := local.RunLayers(0, layers, pos, want); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h, want) {
		t.Fatal("a Forward in a whole-model session differs from the local layers")
	}
	pos++
	run(pos, []int{42})

	// Back to the start: a new prompt replaces everything.
	run(0, []int{1, 300})
	waitStats(t, f.server, "nothing in flight", func(s Stats) bool { return s.InFlight == 0 })
}

// Tokens outside a whole-model session, or past what it holds, end the
// session with an Error that says what was wrong.
func TestTokensRefused(t *testing.T) {
	f := newFixture(t, Limits{})
	layers, vocab := f.full.Layers, f.full.Vocab
	logits := make([]float32, vocab)
	for _, c := range []struct {
		name     string
		from, to int
		context  int
		pos      int
		ids      []int
		want     string
	}{
		{"layers [1, L)", 1, layers, 0, 0, prompt, fmt.Sprintf("a Tokens runs the whole model, layers [0, %d), and this session runs layers [1, %d)", layers, layers)},
		{"layers [0, L-1)", 0, layers - 1, 0, 0, prompt, fmt.Sprintf("this session runs layers [0, %d)", layers-1)},
		{"id past the vocabulary", 0, layers, 0, 0, []int{1, vocab}, fmt.Sprintf("token 1: id %d is outside the model's vocabulary of %d tokens", vocab, vocab)},
		{"skipping positions", 0, layers, 0, 2, prompt, "position 2 skips past the 0 positions the session holds"},
		{"past the context", 0, layers, 4, 0, prompt, "exceed the context length 4"},
	} {
		cl := f.dial(t, c.from, c.to, c.context)
		err := cl.RunTokens(c.pos, c.ids, logits)
		var e offloadwire.Error
		if !errors.As(err, &e) || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: %v, want an Error with %q", c.name, err, c.want)
			continue
		}
		if err := cl.RunTokens(0, prompt, logits); err == nil {
			t.Errorf("%s: the session went on after an Error", c.name)
		}
	}

	// Tokens skipping past what a session holds after a prompt.
	cl := f.dial(t, 0, layers, 0)
	if err := cl.RunTokens(0, prompt, logits); err != nil {
		t.Fatal(err)
	}
	if err := cl.RunTokens(len(prompt)+1, prompt[:1], logits); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("position %d skips past the %d positions", len(prompt)+1, len(prompt))) {
		t.Fatalf("tokens past the held positions: %v", err)
	}

	send := rawStream(t, f)
	m, err := send(frame(t, offloadwire.Tokens{IDs: prompt}))
	if e, ok := m.(offloadwire.Error); err != nil || !ok || !strings.Contains(e.Message, "a Tokens before Open") {
		t.Fatalf("tokens before Open: %#v, %v", m, err)
	}
	send = rawStream(t, f)
	if m, err := send(frame(t, offloadwire.Open{Root: f.root, From: 0, To: layers})); err != nil {
		t.Fatalf("open: %#v, %v", m, err)
	}
	m, err = send(frame(t, offloadwire.Logits{Values: logits}))
	if e, ok := m.(offloadwire.Error); err != nil || !ok || !strings.Contains(e.Message, "offloadwire.Logits is not a request") {
		t.Fatalf("logits as a request: %#v, %v", m, err)
	}
	waitSessions(t, f.server, 0)
	waitStats(t, f.server, "nothing in flight", func(s Stats) bool { return s.InFlight == 0 })
}

// A Tokens request holds the hidden states it makes and its answer's
// logits in flight while it is answered.
func TestTokensInFlight(t *testing.T) {
	f := newFixture(t, Limits{})
	n := len(prompt)
	work := tokensBytes(f.full, n)
	if want := int64(n*f.full.Dim*4 + 1 + f.full.Vocab*4); work != want {
		t.Fatalf("tokensBytes of %d tokens: %d, want %d", n, work, want)
	}
	f = newFixture(t, Limits{InFlightPerPeer: work})
	logits := make([]float32, f.full.Vocab)
	c := f.dial(t, 0, f.full.Layers, 0)
	err := c.RunTokens(0, prompt, logits)
	want := fmt.Sprintf("running %d tokens: a request of %s does not fit in what your peer has left for requests in flight", n, size(work))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("tokens over the peer's budget: %v, want %q", err, want)
	}
	wantRefused(t, f.server, reasonInFlightPerPeer, 1)
	c = f.dial(t, 0, f.full.Layers, 0)
	if err := c.RunTokens(0, prompt[:n-1], logits); err != nil {
		t.Fatalf("fewer tokens, within the budget: %v", err)
	}
	waitStats(t, f.server, "nothing in flight", func(s Stats) bool { return s.InFlight == 0 })
}
