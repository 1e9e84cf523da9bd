// The tests run two go-libp2p hosts, which do not build for js/wasm (the
// package itself does, and package offloadwire is what the browser runs).

//go:build !js

package offload

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/sample"
	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

const models = "../../shared/models"

// modelMap is a ModelSource over the models in a map.
type modelMap map[cid.Cid]*llama.Model

func (m modelMap) Model(_ context.Context, root cid.Cid) (*llama.Model, error) {
	if model, ok := m[root]; ok {
		return model, nil
	}
	return nil, ErrNoModel
}

// fixture is stories260K as a model DAG, a server on one host running it,
// and a client host connected to that one.
type fixture struct {
	root   cid.Cid
	dag    *loader.Model
	full   *llama.Model
	server *Server
	client host.Host
	peer   peer.ID
}

func newFixture(t *testing.T, limits Limits) *fixture {
	t.Helper()
	bin, tok := filepath.Join(models, "stories260K.bin"), filepath.Join(models, "tok512.bin")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("test model not present: %v", err)
	}
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	root, _, err := loader.Import(ctx, loader.Source{Path: bin, Tokenizer: tok}, loader.ImportOptions{}, dagstore.New(bs))
	if err != nil {
		t.Fatal(err)
	}
	dag, err := loader.Open(ctx, root, bs)
	if err != nil {
		t.Fatal(err)
	}
	full, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{root: root, dag: dag, full: full, client: p2ptest.NewHost(t)}
	f.server, f.peer = f.serve(t, limits)
	return f
}

// serve starts a server of the model on a new host that the client host
// knows how to reach.
func (f *fixture) serve(t *testing.T, limits Limits) (*Server, peer.ID) {
	h := p2ptest.NewHost(t)
	s := NewServer(h, modelMap{f.root: f.full}, limits)
	t.Cleanup(func() { _ = s.Close() })
	f.client.Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
	return s, h.ID()
}

func (f *fixture) dial(t *testing.T, from, to, contextLen int) *Client {
	t.Helper()
	c, err := Dial(context.Background(), f.client, f.peer, f.root, from, to, contextLen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// partial is the model with its first k layers.
func (f *fixture) partial(t *testing.T, k int) *llama.Model {
	t.Helper()
	m, err := f.dag.PartialLlamaModel(context.Background(), llama.Options{}, func(c string) bool {
		return loader.Priority(c) < loader.Priority(loader.LayerComponent(k))
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var prompt = []int{1, 403, 407, 261, 378}

// greedy prefills prompt and decodes n tokens greedily.
func greedy(t *testing.T, s *llama.Session, n int) []int {
	t.Helper()
	tokens := slices.Clone(prompt)
	logits, err := s.Forward(tokens)
	for range n {
		if err != nil {
			t.Fatal(err)
		}
		next := sample.Argmax(logits)
		tokens = append(tokens, next)
		logits, err = s.Forward([]int{next})
	}
	return tokens[len(prompt):]
}

// Layers 0…k−1 run locally and the rest on the peer: whatever k, the
// greedy tokens are the full local model's.
func TestOffloadMatchesLocal(t *testing.T) {
	f := newFixture(t, Limits{SessionsPerPeer: 16, StreamsPerPeer: 16}) // a session for each split at once
	want := greedy(t, f.full.NewSession(llama.SessionOptions{}), 60)
	layers := f.full.Layers
	for k := 0; k <= layers; k++ {
		m := f.partial(t, k)
		var opts llama.SessionOptions
		if k < layers {
			opts.Offload = f.dial(t, k, layers, 0).RunLayers
		}
		if got := greedy(t, m.NewSession(opts), len(want)); !slices.Equal(got, want) {
			t.Fatalf("layers [%d, %d) offloaded: tokens %v, want %v", k, layers, got, want)
		}
	}

	// The hook passes through generate.Run.
	text := func(m *llama.Model, opts llama.SessionOptions) string {
		var out strings.Builder
		_, err := generate.Run(context.Background(), m, "Once upon a time", generate.Options{MaxTokens: 40, Session: opts}, func(s string) error {
			out.WriteString(s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	got := text(f.partial(t, 2), llama.SessionOptions{Offload: f.dial(t, 2, layers, 0).RunLayers})
	if want := text(f.full, llama.SessionOptions{}); got != want {
		t.Fatalf("generate.Run with layers 2… offloaded gives %q, want %q", got, want)
	}
	if n := f.server.ActiveSessions(); n == 0 {
		t.Fatal("no active sessions counted while clients hold them")
	}
}

// A client that loses its peer opens a session on another and replays the
// hidden states of the token history; the output is unchanged.
func TestFailover(t *testing.T) {
	f := newFixture(t, Limits{})
	want := greedy(t, f.full.NewSession(llama.SessionOptions{}), 30)
	const k = 2
	layers := f.full.Layers
	m := f.partial(t, k)
	remote := f.dial(t, k, layers, 0)
	s := m.NewSession(llama.SessionOptions{Offload: func(from, to, pos int, h []float32) error {
		return remote.RunLayers(from, to, pos, h)
	}})
	tokens := slices.Clone(prompt)
	logits, err := s.Forward(tokens)
	if err != nil {
		t.Fatal(err)
	}
	failovers := 0
	for len(tokens) < len(prompt)+len(want) {
		next := sample.Argmax(logits)
		tokens = append(tokens, next)
		if len(tokens) == len(prompt)+10 {
			_ = f.server.Close() // the peer goes away
		}
		if logits, err = s.Forward([]int{next}); err == nil {
			continue
		}
		// Fail over: a new peer, and the history's hidden states at layer k.
		t.Logf("at position %d: %v", s.Pos, err)
		failovers++
		f.server, f.peer = f.serve(t, Limits{})
		remote = f.dial(t, k, layers, 0)
		h, err := s.Embed(tokens[:s.Pos])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RunLayers(0, k, 0, h); err != nil {
			t.Fatal(err)
		}
		if err := remote.Forward(0, h); err != nil {
			t.Fatal(err)
		}
		if logits, err = s.Forward([]int{next}); err != nil {
			t.Fatal(err)
		}
	}
	if got := tokens[len(prompt):]; failovers != 1 || !slices.Equal(got, want) {
		t.Fatalf("with %d failovers: tokens %v, want %v", failovers, got, want)
	}
}

// rawStream opens a stream to the server and exchanges hand-made frames.
func rawStream(t *testing.T, f *fixture) (send func(frame []byte) (offloadwire.Message, error)) {
	t.Helper()
	st, err := f.client.NewStream(context.Background(), f.peer, offloadwire.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Reset() })
	r := bufio.NewReader(st)
	return func(frame []byte) (offloadwire.Message, error) {
		if _, err := st.Write(frame); err != nil {
			return nil, err
		}
		body, err := offloadwire.ReadFrame(r)
		if err != nil {
			return nil, err
		}
		return offloadwire.Decode(body)
	}
}

func frame(t *testing.T, m offloadwire.Message) []byte {
	body, err := offloadwire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func rawFrame(body ...byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, Limits{Context: 64})
	ctx := context.Background()
	dim := f.full.Dim
	mh, _ := multihash.Sum([]byte("no such model"), multihash.SHA2_256, -1)
	unknown := cid.NewCidV1(cid.DagCBOR, mh)

	for _, c := range []struct {
		name     string
		root     cid.Cid
		from, to int
		context  int
		want     string
	}{
		{"unknown CID", unknown, 0, 1, 0, "does not hold the model"},
		{"past the last layer", f.root, 3, f.full.Layers + 1, 0, "has 5 layers: [3, 6) is outside"},
		{"context over the limit", f.root, 0, 1, 65, "exceeds this peer's limit of 64"},
		{"empty range", f.root, 2, 2, 0, "layer range [2, 2)"},
	} {
		_, err := Dial(ctx, f.client, f.peer, c.root, c.from, c.to, c.context)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}

	// A Forward that skips positions ends the session.
	c := f.dial(t, 1, 3, 0)
	h := make([]float32, dim)
	if err := c.Forward(1, h); err == nil || !strings.Contains(err.Error(), "skips past the 0 positions") {
		t.Fatalf("a Forward past the held positions: %v", err)
	}
	if err := c.Forward(0, h); err == nil {
		t.Fatal("the session went on after an Error")
	}
	// The context limit holds for the positions themselves.
	c = f.dial(t, 1, 3, 0)
	if err := c.Forward(0, make([]float32, 65*dim)); err == nil || !strings.Contains(err.Error(), "exceed the context length 64") {
		t.Fatalf("positions past the context: %v", err)
	}

	open := frame(t, offloadwire.Open{Root: f.root, From: 0, To: 2})
	for _, c := range []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"oversized frame", [][]byte{binary.AppendUvarint(nil, offloadwire.MaxFrameSize+1)}, "frame of 16777217 bytes"},
		{"empty frame", [][]byte{{0}}, "frame of 0 bytes"},
		{"unknown message", [][]byte{rawFrame(0x42, 1, 2)}, "message type 0x42"},
		{"malformed open", [][]byte{rawFrame(1, 2, 3)}, "protocol violation"},
		{"forward first", [][]byte{frame(t, offloadwire.Forward{N: 1, States: h})}, "Forward before Open"},
		{"answer as request", [][]byte{frame(t, offloadwire.Opened{Dim: 1})}, "offloadwire.Opened is not a request"},
		{"open twice", [][]byte{open, open}, "already open"},
		{"wrong width", [][]byte{open, frame(t, offloadwire.Forward{N: 1, States: h[:dim-1]})}, "63 wide, the model's are 64"},
	} {
		send := rawStream(t, f)
		var m offloadwire.Message
		var err error
		for _, fr := range c.frames {
			if m, err = send(fr); err != nil {
				break
			}
		}
		e, ok := m.(offloadwire.Error)
		if err != nil || !ok || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: %#v, %v; want an Error with %q", c.name, m, err, c.want)
			continue
		}
		if _, err := send(frame(t, offloadwire.Close{})); err == nil {
			t.Errorf("%s: the stream stayed open after an Error", c.name)
		}
	}
	waitSessions(t, f.server, 0) // every session above ended with an Error
}

// waitSessions waits until the server counts n sessions.
func waitSessions(t *testing.T, s *Server, n int) {
	t.Helper()
	waitStats(t, s, fmt.Sprintf("%d sessions", n), func(s Stats) bool { return s.Sessions == n })
}

func TestSessionLimits(t *testing.T) {
	f := newFixture(t, Limits{Sessions: 2})
	a := f.dial(t, 0, 1, 0)
	f.dial(t, 0, 1, 0)
	waitSessions(t, f.server, 2)
	refusedWhileOpen(t, f, a, 1, "maximum of 2 sessions", 0, 1, 0)
}

func TestIdleTimeout(t *testing.T) {
	f := newFixture(t, Limits{IdleTimeout: 100 * time.Millisecond})
	c := f.dial(t, 0, 1, 0)
	waitSessions(t, f.server, 0)
	if err := c.Forward(0, make([]float32, f.full.Dim)); err == nil {
		t.Fatal("a session that idled out still answers")
	}
	if err := c.Close(); err == nil {
		t.Fatal("closing a session that idled out gave no error")
	}
}

// A server never panics and always answers or closes, whatever arrives.
func TestServerSurvivesGarbage(t *testing.T) {
	f := newFixture(t, Limits{})
	open := frame(t, offloadwire.Open{Root: f.root, From: 0, To: 5})
	for i, in := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		slices.Concat(open, rawFrame(3, 0, 1, 0, 0)),
		slices.Concat(open, frame(t, offloadwire.Forward{Pos: 0, N: 1, States: []float32{1}})),
		slices.Concat(open, rawFrame(8, 0, 2, 1, 0xff)),
		slices.Concat(open, frame(t, offloadwire.Tokens{Pos: 0, IDs: []int{1, offloadwire.MaxVocab - 1}})),
		slices.Concat(open, frame(t, offloadwire.Tokens{Pos: 0, IDs: []int{1}}), frame(t, offloadwire.Tokens{Pos: 1 << 19, IDs: []int{1}})),
		slices.Concat(frame(t, offloadwire.Open{Root: f.root, From: 2, To: 5}), frame(t, offloadwire.Tokens{Pos: 0, IDs: []int{1}})),
	} {
		st, err := f.client.NewStream(context.Background(), f.peer, offloadwire.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write(in)
		_ = st.CloseWrite()
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(st)
		for {
			body, err := offloadwire.ReadFrame(r)
			if err != nil {
				break // the server ended the stream
			}
			if _, err := offloadwire.Decode(body); err != nil {
				t.Fatalf("input %d: the server sent a malformed frame: %v", i, err)
			}
		}
		_ = st.Close()
	}
	waitSessions(t, f.server, 0)
}

// The sessions' KV caches share one budget: an Open whose cache could
// outgrow what is left is refused until a session ends.
func TestKVBudget(t *testing.T) {
	full := newFixture(t, Limits{}).full
	perLayer := int64(64 * full.KVDim() * 2 * 4) // 64 positions of keys and values, f32
	f := newFixture(t, Limits{Context: 64, KVBytes: 2 * perLayer})
	a := f.dial(t, 0, 2, 64)
	refusedWhileOpen(t, f, a, 0, "does not fit", 2, 3, 64)
}

// refusedWhileOpen checks that a session of layers [from, to) holding
// positions positions is refused, with an error that says want, while held
// is open, and opens once held is closed and left sessions remain.
func refusedWhileOpen(t *testing.T, f *fixture, held *Client, left int, want string, from, to, positions int) {
	t.Helper()
	_, err := Dial(t.Context(), f.client, f.peer, f.root, from, to, positions)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a session of layers [%d, %d) while another is open: %v, want %q", from, to, err, want)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, f.server, left)
	f.dial(t, from, to, positions)
}
