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
