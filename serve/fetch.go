package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/offload"
)

// Fetcher gets the models the repo does not hold: a request for one
// fetches what it needs to answer (the manifest and tokenizer), answers
// with peers running what it lacks (the whole model at first), and pins
// the model in the background, its embedding and classifier, then each
// layer, running here once their blocks are.
type Fetcher interface {
	// FetchViable fetches the manifest at root and the components the
	// model needs to answer while peers run the rest of it.
	FetchViable(ctx context.Context, root cid.Cid) error
	// PinAdd fetches the rest of the model and pins it.
	PinAdd(ctx context.Context, root cid.Cid, name string, progress func(node.Progress)) error
	// DialOffload opens a session running layers [from, to) of the model
	// on a peer.
	DialOffload(ctx context.Context, root cid.Cid, from, to, contextLen int) (*offload.Client, error)
}

var _ Fetcher = (*node.Node)(nil)

// layerPoll is how often a model being fetched tries its next layer.
const layerPoll = 100 * time.Millisecond

// pinned reports whether root is pinned recursively.
func (s *Server) pinned(ctx context.Context, root cid.Cid) (bool, error) {
	pins, err := s.repo.Pins(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(pins, func(p node.PinInfo) bool { return p.Mode == "recursive" && p.CID == root }), nil
}

// fetchViable fetches what m needs to answer and builds it without what
// is not local; load then has fetchRest pin it in the background.
func (s *Server) fetchViable(ctx context.Context, m *model) (*loader.Model, error) {
	if err := s.opts.Fetch.FetchViable(ctx, m.root); err != nil {
		return nil, &apiError{status: http.StatusNotFound, Message: fmt.Sprintf("the model %s is not pinned here, and fetching it failed: %v", m.root, err),
			Type: "invalid_request_error", Param: ptr("model"), Code: ptr("model_not_found")}
	}
	dag, err := s.repo.LocalModel(ctx, m.root)
	if err != nil {
		return nil, err
	}
	plan, err := loader.Plan(dag.Manifest, loader.PlanOptions{OffloadHead: true})
	if err != nil {
		return nil, err
	}
	viable := plan.Fetch[:plan.Viable]
	if m.llm, err = dag.PartialLlamaModel(ctx, llama.Options{}, func(name string) bool {
		return slices.ContainsFunc(viable, func(c loader.Component) bool { return c.Name == name })
	}); err != nil {
		return nil, err
	}
	// The embedding and classifier run here at once when their blocks are
	// (an earlier fetch brought them); otherwise fetchRest adds them.
	_ = dag.AddHead(ctx, m.llm, llama.Options{})
	m.fetched = make(chan struct{})
	return dag, nil
}

// firstTokenWait is how long the fetch of a model's rest waits for the
// first token of the request that started it: the prompt's pass through the
// model on a peer comes first, not sharing the machines with the pin.
const firstTokenWait = time.Second

// fetchRest pins m's model and adds its embedding and classifier, then
// each of its layers in order, as soon as their blocks are local (each
// checked against its CID as it is read). A failed pin drops m, so that
// the next request fetches again.
func (s *Server) fetchRest(ctx context.Context, m *model, dag *loader.Model) {
	defer close(m.fetched)
	s.metrics.fetching.Inc()
	defer s.metrics.fetching.Dec()
	select {
	case <-m.firstToken:
	case <-time.After(firstTokenWait):
	}
	var local atomic.Int64
	defer func() { s.metrics.fetchedBytes.Sub(float64(local.Load())) }()
	pinned := make(chan error, 1)
	go func() {
		pinned <- s.opts.Fetch.PinAdd(ctx, m.root, "", func(p node.Progress) {
			s.metrics.fetchedBytes.Add(float64(p.Bytes - local.Swap(p.Bytes)))
		})
	}()
	tick := time.NewTicker(layerPoll)
	defer tick.Stop()
	done := false
	// add loads a part once its blocks are local; it reports false when the
	// pin failed. A part that fails once every block is local stays on
	// peers.
	add := func(has func() bool, load func() error) bool {
		for !has() {
			if err := load(); err == nil || done {
				break
			}
			select {
			case err := <-pinned:
				if err != nil {
					s.drop(m)
					return false
				}
				done = true
			case <-tick.C:
			}
		}
		return true
	}
	if !add(m.llm.HasHead, func() error { return dag.AddHead(ctx, m.llm, llama.Options{}) }) {
		return
	}
	for l := range m.llm.Layers {
		if !add(func() bool { return m.llm.HasBlock(l) }, func() error { return dag.AddLayer(ctx, m.llm, l, llama.Options{}) }) {
			return
		}
	}
	if !done && <-pinned != nil {
		s.drop(m)
	}
}

// drop forgets m: the next request for its model loads it again.
func (s *Server) drop(m *model) {
	s.mu.Lock()
	s.recent = slices.DeleteFunc(s.recent, func(x *model) bool { return x == m })
	s.mu.Unlock()
}

// missing counts the layers peers run for m's generations: all of them
// while m lacks its embedding and classifier, then those it lacks.
func missing(m *llama.Model) int {
	if !m.HasHead() {
		return m.Layers
	}
	n := 0
	for l := range m.Layers {
		if !m.HasBlock(l) {
			n++
		}
	}
	return n
}

// offloadRetries is how many times in a row a generation opens new
// offload sessions after failures (a quarter, a half, then a whole second
// after each) before it waits for its model's fetch to end.
const offloadRetries = 3

// remoteLayers runs what a generation's session lacks on peers, one
// offload session per layer range: the session's Offload hook, and its
// Remote hook while the model lacks its embedding and classifier (a
// session over every layer, on token ids), for one generation; close ends
// its sessions.
type remoteLayers struct {
	ctx     context.Context
	fetch   Fetcher
	model   *model
	context int // the session's positions (0: the model's)
	ranges  map[[2]int]*offload.Client
	tries   int // failures in a row
}

// offloadError is a failure of a peer or of the way to it, as opposed to
// one of the model.
type offloadError struct{ err error }

func (e offloadError) Error() string { return e.err.Error() }
func (e offloadError) Unwrap() error { return e.err }

// run is the llama.SessionOptions.Offload hook.
func (r *remoteLayers) run(from, to, pos int, h []float32) error {
	c, err := r.session(from, to)
	if err != nil {
		return err
	}
	if err := c.RunLayers(from, to, pos, h); err != nil {
		return offloadError{err}
	}
	r.tries = 0
	return nil
}

// runAll is the llama.SessionOptions.Remote hook.
func (r *remoteLayers) runAll(pos int, tokens []int, logits []float32) error {
	c, err := r.session(0, r.model.llm.Layers)
	if err != nil {
		return err
	}
	if err := c.RunTokens(pos, tokens, logits); err != nil {
		return offloadError{err}
	}
	r.tries = 0
	return nil
}

// session is the generation's offload session for layers [from, to),
// opened on a peer the first time.
func (r *remoteLayers) session(from, to int) (*offload.Client, error) {
	if c, ok := r.ranges[[2]int{from, to}]; ok {
		return c, nil
	}
	c, err := r.fetch.DialOffload(r.ctx, r.model.root, from, to, r.context)
	if err != nil {
		return nil, offloadError{err}
	}
	r.ranges[[2]int{from, to}] = c
	return c, nil
}

// resume is the generation's generate.Options.Resume: after an offload
// failure it ends the generation's sessions, so that the history runs
// again on new ones (on another peer when the one that failed went away),
// up to offloadRetries times in a row; then, once, it waits for the
// model's fetch to end, and the generation goes on here if every layer is
// local by then.
func (r *remoteLayers) resume(err error) bool {
	if !errors.As(err, new(offloadError)) {
		return false
	}
	r.close()
	r.tries++
	if r.tries <= offloadRetries {
		select {
		case <-time.After(time.Second << (r.tries - 1) / 4):
			return true
		case <-r.ctx.Done():
			return false
		}
	}
	if r.tries > offloadRetries+1 {
		return false
	}
	select {
	case <-r.model.fetched:
		return missing(r.model.llm) == 0
	case <-r.ctx.Done():
		return false
	}
}

// close ends the generation's sessions.
func (r *remoteLayers) close() {
	for key, c := range r.ranges {
		_ = c.Close()
		delete(r.ranges, key)
	}
}
