package offloadwire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// echo is a server over a Transport that adds 1 to every value, recording
// the Forwards it was sent.
type echo struct {
	dim      int
	forwards []Forward
	vocab    int      // the logits a Tokens is answered with
	tokens   []Tokens // the Tokens it was sent
}

func (e *echo) roundTrip(req []byte) ([]byte, error) {
	m, err := Decode(req)
	if err != nil {
		return Encode(ErrorOf(err))
	}
	switch m := m.(type) {
	case Open:
		return Encode(Opened{Session: 1, Dim: e.dim})
	case Forward:
		e.forwards = append(e.forwards, m)
		out := make([]float32, len(m.States))
		for i, v := range m.States {
			out[i] = v + 1
		}
		return Encode(Hidden{out})
	case Tokens:
		// The logits are the position and the id of the last token.
		e.tokens = append(e.tokens, m)
		n := len(m.IDs)
		out := make([]float32, e.vocab)
		out[0], out[1] = float32(m.Pos+n-1), float32(m.IDs[n-1])
		return Encode(Logits{out})
	case Close:
		return Encode(Closed{})
	}
	return Encode(Error{"unexpected"})
}

func TestClient(t *testing.T) {
	const dim = 2
	e := &echo{dim: dim}
	c, err := OpenSession(e.roundTrip, Open{Root: testRoot(t), From: 1, To: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c.Opened().Dim != dim {
		t.Fatalf("opened %+v", c.Opened())
	}
	h := make([]float32, (2*MaxPositions+6)*dim)
	if err := c.RunLayers(1, 3, 10, h); err != nil {
		t.Fatal(err)
	}
	var pos, n []int
	for _, f := range e.forwards {
		pos, n = append(pos, f.Pos), append(n, f.N)
	}
	if !reflect.DeepEqual(pos, []int{10, 10 + MaxPositions, 10 + 2*MaxPositions}) || !reflect.DeepEqual(n, []int{MaxPositions, MaxPositions, 6}) ||
		h[0] != 1 || h[len(h)-1] != 1 {
		t.Fatalf("%d positions went as Forwards at %v of %v", len(h)/dim, pos, n)
	}
	if err := c.RunLayers(0, 3, 0, h[:dim]); err == nil {
		t.Fatal("RunLayers for another range gave no error")
	}
	if err := c.Forward(0, h[:dim-1]); err == nil {
		t.Fatal("a ragged Forward gave no error")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Forward(0, h[:dim]); err == nil {
		t.Fatal("Forward after Close gave no error")
	}

	// An Error answer ends the session.
	c, err = OpenSession(e.roundTrip, Open{Root: testRoot(t), From: 0, To: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.rt = func([]byte) ([]byte, error) { return Encode(Error{"out of memory"}) }
	if err := c.Forward(0, h[:dim]); !errors.As(err, new(Error)) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("an Error answer: %v", err)
	}
	c.rt = e.roundTrip
	if err := c.Forward(0, h[:dim]); err == nil || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("after an Error answer: %v", err)
	}
}

func TestRunTokens(t *testing.T) {
	const vocab = 5
	e := &echo{dim: 2, vocab: vocab}
	c, err := OpenSession(e.roundTrip, Open{Root: testRoot(t), From: 0, To: 3})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 2*MaxPositions+3)
	for i := range ids {
		ids[i] = i % 1000
	}
	logits := make([]float32, vocab)
	if err := c.RunTokens(7, ids, logits); err != nil {
		t.Fatal(err)
	}
	var pos, n []int
	var sent []int
	for _, m := range e.tokens {
		pos, n, sent = append(pos, m.Pos), append(n, len(m.IDs)), append(sent, m.IDs...)
	}
	if !reflect.DeepEqual(pos, []int{7, 7 + MaxPositions, 7 + 2*MaxPositions}) || !reflect.DeepEqual(n, []int{MaxPositions, MaxPositions, 3}) ||
		!reflect.DeepEqual(sent, ids) {
		t.Fatalf("%d ids went as Tokens at %v of %v", len(ids), pos, n)
	}
	last := len(ids) - 1
	if want := []float32{float32(7 + last), float32(ids[last]), 0, 0, 0}; !reflect.DeepEqual(logits, want) {
		t.Fatalf("logits %v, want the last answer's %v", logits, want)
	}

	// Requests the client refuses to send leave the session going.
	e.tokens = nil
	for name, call := range map[string]func() error{
		"no ids":          func() error { return c.RunTokens(0, nil, logits) },
		"no logits":       func() error { return c.RunTokens(0, []int{1}, nil) },
		"negative id":     func() error { return c.RunTokens(0, []int{1, -1}, logits) },
		"id too big":      func() error { return c.RunTokens(0, append(make([]int, MaxPositions), MaxVocab), logits) },
		"past MaxContext": func() error { return c.RunTokens(MaxContext-1, []int{1, 2}, logits) },
	} {
		if err := call(); err == nil || errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if len(e.tokens) != 0 {
		t.Fatalf("refused calls sent %d Tokens", len(e.tokens))
	}
	if err := c.RunTokens(0, []int{4}, logits); err != nil || logits[1] != 4 {
		t.Fatalf("after refused calls: %v, logits %v", err, logits)
	}

	// An answer of the wrong length or type ends the session.
	for name, answer := range map[string]Message{
		"fewer logits": Logits{make([]float32, vocab-1)},
		"more logits":  Logits{make([]float32, vocab+1)},
		"hidden":       Hidden{make([]float32, vocab)},
		"closed":       Closed{},
	} {
		c, err := OpenSession(e.roundTrip, Open{Root: testRoot(t), From: 0, To: 3})
		if err != nil {
			t.Fatal(err)
		}
		c.rt = func([]byte) ([]byte, error) { return Encode(answer) }
		if err := c.RunTokens(0, []int{1}, logits); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a protocol error", name, err)
		}
		c.rt = e.roundTrip
		if err := c.RunTokens(0, []int{1}, logits); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: then %v, want the protocol error again", name, err)
		}
		if err := c.Forward(0, make([]float32, 2)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: then Forward: %v, want the protocol error again", name, err)
		}
	}
}
