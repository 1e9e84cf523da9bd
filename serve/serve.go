// Package serve is the node's inference service: an OpenAI-compatible HTTP
// API (GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
// streamed as server-sent events) and a WebSocket streaming protocol at
// /api/stream, over the models pinned in the repo. A request names a model
// by its pin's name or its CID; models are read from the repo, loaded once
// and kept, the most recent few. With a Fetcher, a model named by a CID
// not pinned here is fetched, and answers while peers run the layers it
// still lacks. Each model runs a few generations at once, sharing their
// decode steps (generate.Engine); the requests waiting for one, across
// models, are bounded, and one more is answered 429.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipfs-accelerate/accel/inference/chat"
	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

// Paths are the URL paths the Server answers, for a mux to route to it.
var Paths = []string{"/v1/", StreamPath}

// StreamPath is the WebSocket streaming protocol's.
const StreamPath = "/api/stream"

// Repo is what the server reads models from: the node's pins, and a model
// DAG whose blocks are all local.
type Repo interface {
	Pins(ctx context.Context) ([]node.PinInfo, error)
	LocalModel(ctx context.Context, root cid.Cid) (*loader.Model, error)
}

var _ Repo = (*node.Node)(nil)

// Options bound the server; zero fields take the defaults.
type Options struct {
	MaxActive  int // generations a model runs at once (8)
	MaxWaiting int // requests waiting for a model at once (16)
	MaxLoaded  int // models kept loaded (2)
	// Fetch gets the models the repo does not hold (nil: a model not
	// pinned here is not found).
	Fetch Fetcher
}

// Server answers inference requests. It is an http.Handler.
type Server struct {
	repo    Repo
	opts    Options
	metrics *metrics
	mux     *http.ServeMux

	waiting atomic.Int64 // requests waiting for their model's turn

	genMu   sync.Mutex
	running []*generation // oldest first

	mu     sync.Mutex
	recent []*model // loaded or loading, most recently used first
}

// New serves the models of repo and registers its metrics with reg.
func New(repo Repo, reg prometheus.Registerer, opts Options) *Server {
	if opts.MaxActive <= 0 {
		opts.MaxActive = 8
	}
	if opts.MaxWaiting <= 0 {
		opts.MaxWaiting = 16
	}
	if opts.MaxLoaded <= 0 {
		opts.MaxLoaded = 2
	}
	s := &Server{repo: repo, opts: opts, mux: http.NewServeMux()}
	s.metrics = newMetrics(reg, func() float64 { return float64(s.waiting.Load()) })
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("POST /v1/completions", s.completions)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, Message: fmt.Sprintf("%s %s is not an endpoint of this API "+
			"(GET /v1/models, POST /v1/completions, POST /v1/chat/completions)", r.Method, r.URL.Path), Type: "invalid_request_error"})
	})
	s.mux.HandleFunc("GET "+StreamPath, s.stream)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Protect guards the server on the API listener as node.RefuseAPI says,
// answering refusals in OpenAI's error shape.
func Protect(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, err := node.RefuseAPI(token, r); err != nil {
			e := &apiError{status: status, Message: err.Error(), Type: "invalid_request_error"}
			if status == http.StatusUnauthorized {
				e.Code = ptr("invalid_api_key")
			}
			writeError(w, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Public guards the server on the gateway, where it answers every client
// and host: only web pages (with an Origin header) are refused, and a
// request never makes the node fetch a model.
func Public(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			writeError(w, &apiError{status: http.StatusForbidden, Message: "the inference API does not answer web pages (request has an Origin header)",
				Type: "invalid_request_error"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), publicKey{}, true)))
	})
}

// publicKey marks the context of a request Public let through.
type publicKey struct{}

// model is a loaded model.
type model struct {
	root   cid.Cid
	ready  chan struct{} // closed once llm, engine and chat, or err, are set
	llm    *llama.Model
	engine *generate.Engine
	chat   *chat.Template
	err    error
	turns  chan struct{} // holds a token for each generation running
	// fetched, for a model being fetched, is closed once the fetch ends;
	// nil for a model that was local.
	fetched chan struct{}
	// firstToken is closed once a generation of the model has its first
	// token, or has ended without one.
	firstToken chan struct{}
	answer     sync.Once
}

// answered closes m.firstToken, once.
func (m *model) answered() { m.answer.Do(func() { close(m.firstToken) }) }

// modelInfo is a pinned model as /v1/models lists it.
type modelInfo struct {
	ID      string `json:"id"` // the pin's name, or the CID of an unnamed pin
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	CID     string `json:"cid"`
}

// pinnedModels are the recursive pins of model manifests (dag-cbor roots).
func (s *Server) pinnedModels(ctx context.Context) ([]modelInfo, error) {
	pins, err := s.repo.Pins(ctx)
	if err != nil {
		return nil, err
	}
	var out []modelInfo
	for _, p := range pins {
		if p.Mode != "recursive" || p.CID.Type() != cid.DagCBOR {
			continue
		}
		id := p.Name
		if id == "" {
			id = p.CID.String()
		}
		out = append(out, modelInfo{ID: id, Object: "model", OwnedBy: "accel", CID: p.CID.String()})
	}
	return out, nil
}

// resolve is the root of the model name names: a pinned model's name or a
// CID.
func (s *Server) resolve(ctx context.Context, name string) (cid.Cid, error) {
	if name == "" {
		return cid.Undef, invalid("model", "model is required: a pinned model's name or a CID (GET /v1/models lists them)")
	}
	if c, err := cid.Decode(name); err == nil {
		if c.Type() != cid.DagCBOR {
			return cid.Undef, modelNotFound(name)
		}
		return c, nil
	}
	models, err := s.pinnedModels(ctx)
	if err != nil {
		return cid.Undef, err
	}
	var found []string
	for _, m := range models {
		if m.ID == name && !slices.Contains(found, m.CID) {
			found = append(found, m.CID)
		}
	}
	switch len(found) {
	case 0:
		return cid.Undef, modelNotFound(name)
	case 1:
		return cid.Decode(found[0])
	}
	return cid.Undef, invalid("model", "%d pinned models are named %q: give the CID of one (%v)", len(found), name, found)
}

// model returns the model name names, loading it the first time.
func (s *Server) model(ctx context.Context, name string) (*model, error) {
	root, err := s.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	i := slices.IndexFunc(s.recent, func(m *model) bool { return m.root == root })
	var m *model
	if i >= 0 {
		m = s.recent[i]
		s.recent = slices.Delete(s.recent, i, i+1)
	} else {
		m = &model{root: root, ready: make(chan struct{}), turns: make(chan struct{}, s.opts.MaxActive), firstToken: make(chan struct{})}
		// The loading outlives the request that started it: others wait for it.
		go s.load(context.WithoutCancel(ctx), m, name)
	}
	s.recent = slices.Insert(s.recent, 0, m)
	// A model dropped here is freed once its generations end.
	s.recent = s.recent[:min(len(s.recent), s.opts.MaxLoaded)]
	s.mu.Unlock()

	select {
	case <-m.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.err != nil {
		s.mu.Lock()
		s.recent = slices.DeleteFunc(s.recent, func(x *model) bool { return x == m })
		s.mu.Unlock()
		return nil, m.err
	}
	return m, nil
}

// load reads the model at m.root from the repo, or, when it is not pinned
// here, the server has a Fetcher and the request is not Public's, fetches
// it.
func (s *Server) load(ctx context.Context, m *model, name string) {
	var dag *loader.Model
	pinned, err := s.pinned(ctx, m.root)
	switch {
	case err != nil:
	case !pinned && s.opts.Fetch != nil && ctx.Value(publicKey{}) == nil:
		dag, err = s.fetchViable(ctx, m)
	default:
		if dag, err = s.repo.LocalModel(ctx, m.root); err == nil {
			m.llm, err = dag.LlamaModel(ctx, llama.Options{})
			// The component files the weights were read from (and packed
			// from) are garbage now: give their memory back at once.
			debug.FreeOSMemory()
		}
	}
	var source string
	if err == nil {
		source, err = dag.ChatTemplate(ctx)
	}
	if err == nil {
		m.chat, err = chat.New(source, m.llm.Tokenizer)
		m.engine = generate.NewEngine(m.llm)
	}
	switch {
	case errors.As(err, new(*apiError)):
		m.err = err
	case errors.Is(err, node.ErrNotFound):
		m.err = modelNotFound(name)
	case err != nil:
		m.err = fmt.Errorf("loading model %s: %w", m.root, err)
	}
	close(m.ready)
	if m.fetched != nil && m.err == nil {
		go s.fetchRest(ctx, m, dag)
	}
}

// Loaded returns the model at root when the server holds it whole (every
// layer, the embedding and the classifier loaded), nil otherwise: the
// node's offload server runs it for peers rather than loading it again.
func (s *Server) Loaded(root cid.Cid) *llama.Model {
	s.mu.Lock()
	i := slices.IndexFunc(s.recent, func(m *model) bool { return m.root == root })
	var m *model
	if i >= 0 {
		m = s.recent[i]
	}
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	select {
	case <-m.ready:
	default:
		return nil
	}
	if m.err != nil || missing(m.llm) > 0 {
		return nil
	}
	return m.llm
}

var _ node.LoadedModels = (*Server)(nil)

// errBusy is a full queue.
var errBusy = &apiError{status: http.StatusTooManyRequests, Type: "requests", Code: ptr("rate_limit_exceeded"),
	Message: "too many requests are waiting for a model: try again later"}

// take waits for a turn of m's, unless too many requests wait already;
// release gives the turn back.
func (s *Server) take(ctx context.Context, m *model) (release func(), err error) {
	release = func() { <-m.turns }
	select {
	case m.turns <- struct{}{}:
		return release, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.opts.MaxWaiting) {
		s.waiting.Add(-1)
		return nil, errBusy
	}
	defer s.waiting.Add(-1)
	select {
	case m.turns <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func ptr[T any](v T) *T { return &v }
