package serve

import (
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/node"
)

var _ node.Inference = (*Server)(nil)

// generation is a job running, as the dashboard shows it.
type generation struct {
	api     string
	root    cid.Cid
	arrived time.Time
	remote  int // layers peers run for it

	mu          sync.Mutex
	tokens      int
	first, last time.Time // when its first and latest tokens came
}

// token counts a token that came at now.
func (g *generation) token(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tokens == 0 {
		g.first = now
	}
	g.tokens++
	g.last = now
}

// track adds j, which runs remote layers on peers, to the generations
// running; untrack takes it out.
func (s *Server) track(j job, remote int) *generation {
	g := &generation{api: j.api, root: j.model.root, arrived: j.arrived, remote: remote}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.running = append(s.running, g)
	return g
}

func (s *Server) untrack(g *generation) {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.running = slices.DeleteFunc(s.running, func(x *generation) bool { return x == g })
}

// Generations lists the generations running, oldest first, and counts the
// requests waiting for a turn: what the node's dashboard shows.
func (s *Server) Generations() ([]node.DashboardGeneration, int) {
	s.genMu.Lock()
	running := slices.Clone(s.running)
	s.genMu.Unlock()
	now := time.Now()
	out := make([]node.DashboardGeneration, 0, len(running))
	for _, g := range running {
		d := node.DashboardGeneration{CID: g.root.String(), API: g.api, Elapsed: now.Sub(g.arrived).Seconds(), RemoteLayers: g.remote}
		g.mu.Lock()
		d.Tokens = g.tokens
		if g.tokens > 1 {
			d.TokensPerSecond = float64(g.tokens-1) / g.last.Sub(g.first).Seconds()
		}
		g.mu.Unlock()
		out = append(out, d)
	}
	return out, int(s.waiting.Load())
}
