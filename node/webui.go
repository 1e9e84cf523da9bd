package node

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/loader"
)

// The web UI is two pages of the SDK's ui/ directory, served by the
// gateway: the playground at / and the dashboard at /dashboard, which
// polls /dashboard/stats. Their scripts and styles load from /sdk/ui/.

// uiPage serves the SDK file at path (as browser.Handler names it) whatever
// the request's path, with the SDK's headers: the page is cross-origin
// isolated, so that it may use SharedArrayBuffer and WebAssembly threads.
// In a binary without the SDK it answers as browser.Handler does: 503,
// with a page that says how to build it.
func uiPage(path string) http.Handler {
	sdk := browser.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = path, ""
		sdk.ServeHTTP(w, r)
	})
}

// DashboardStats is what /dashboard/stats answers: a read-only snapshot of
// the node. It holds nothing secret (no config, no API token).
type DashboardStats struct {
	PeerID    string           `json:"peer_id"`
	Version   string           `json:"version"`
	Uptime    float64          `json:"uptime_s"`
	Peers     []DashboardPeer  `json:"peers"`
	Models    []DashboardModel `json:"models"` // recursive pins
	Cache     DashboardCache   `json:"cache"`
	Bandwidth DashboardTraffic `json:"bandwidth"`
	Sessions  DashboardSession `json:"sessions"`
	// Generations are those the inference API runs, oldest first.
	Generations []DashboardGeneration `json:"generations"`
}

// DashboardPeer is a connected peer.
type DashboardPeer struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Transport string `json:"transport"`
	Direction string `json:"direction"`
}

// DashboardModel is a recursive pin: a model, or a DAG that is not one
// (with an empty Architecture and no components).
type DashboardModel struct {
	CID          string               `json:"cid"`
	Name         string               `json:"name"`
	Architecture string               `json:"architecture"`
	Size         int64                `json:"size"`       // bytes of all components
	Components   []DashboardComponent `json:"components"` // load order
}

// DashboardComponent is a component of a model: the playground draws its
// progress bars from these.
type DashboardComponent struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// DashboardCache is the hot cache's state.
type DashboardCache struct {
	Hits     uint64  `json:"hits"`
	Misses   uint64  `json:"misses"`
	HitRate  float64 `json:"hit_rate"` // hits / (hits + misses), 0 before any read
	Bytes    int64   `json:"bytes"`
	MaxBytes int64   `json:"max_bytes"`
}

// DashboardTraffic is the node's traffic (block exchange and gateway
// responses): totals since start and per-second rates, oldest first.
type DashboardTraffic struct {
	TotalIn  uint64            `json:"total_in"`
	TotalOut uint64            `json:"total_out"`
	Samples  []BandwidthSample `json:"samples"`
}

// DashboardSession counts the work being served now.
type DashboardSession struct {
	Gateway     int64 `json:"gateway"`     // gateway requests in flight
	Offload     int   `json:"offload"`     // layer-offload sessions peers hold open here
	Generations int   `json:"generations"` // inference generations running
	Waiting     int   `json:"waiting"`     // inference requests waiting for a turn
}

// DashboardGeneration is a generation the inference API runs.
type DashboardGeneration struct {
	CID             string  `json:"cid"`               // the model's root
	API             string  `json:"api"`               // completions, chat or stream
	Tokens          int     `json:"tokens"`            // generated so far
	Elapsed         float64 `json:"elapsed_s"`         // since the request arrived
	TokensPerSecond float64 `json:"tokens_per_second"` // from its first token to its latest (0 before its second)
	RemoteLayers    int     `json:"remote_layers"`     // layers peers run for it
}

// Inference is what the node's inference service tells the dashboard.
type Inference interface {
	// Generations lists the generations running, oldest first, and counts
	// the requests waiting for a turn.
	Generations() (running []DashboardGeneration, waiting int)
}

// ShowInference has the dashboard report inf's generations.
func (n *Node) ShowInference(inf Inference) {
	n.inferenceMu.Lock()
	defer n.inferenceMu.Unlock()
	n.inference = inf
}

// generations is what the inference service shown reports: nothing
// before ShowInference.
func (n *Node) generations() ([]DashboardGeneration, int) {
	n.inferenceMu.Lock()
	inf := n.inference
	n.inferenceMu.Unlock()
	if inf == nil {
		return nil, 0
	}
	return inf.Generations()
}

// dashboardStats serves DashboardStats as JSON. Manifests are read once
// per pin, without marking the model used, and forgotten with the pin.
func (n *Node) dashboardStats() http.Handler {
	var (
		mu     sync.Mutex
		models = map[cid.Cid]DashboardModel{}
	)
	model := func(ctx context.Context, p PinInfo) DashboardModel {
		mu.Lock()
		defer mu.Unlock()
		if m, ok := models[p.CID]; ok {
			return m
		}
		m := DashboardModel{CID: p.CID.String(), Name: p.Name, Components: []DashboardComponent{}}
		if lm, err := loader.Open(ctx, p.CID, n.Blocks); err == nil {
			m.Architecture, m.Size = lm.Manifest.Architecture, lm.Manifest.Size()
			for _, c := range lm.Manifest.Components {
				m.Components = append(m.Components, DashboardComponent{Name: c.Name, Size: c.Size})
			}
		} else if ctx.Err() != nil {
			return m // not kept: the next request reads it again
		}
		models[p.CID] = m
		return m
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st := DashboardStats{
			PeerID:   n.Host.ID().String(),
			Version:  Version,
			Uptime:   time.Since(n.metrics.started).Seconds(),
			Peers:    []DashboardPeer{},
			Models:   []DashboardModel{},
			Sessions: DashboardSession{Gateway: n.metrics.gatewayReqs.Load(), Offload: n.Offload.ActiveSessions()},
		}
		running, waiting := n.generations()
		st.Generations = append([]DashboardGeneration{}, running...)
		st.Sessions.Generations, st.Sessions.Waiting = len(running), waiting
		peers, _ := n.SwarmPeers(ctx) // online: never fails
		for _, p := range peers {
			st.Peers = append(st.Peers, DashboardPeer{ID: p.Peer, Addr: p.Addr, Transport: p.Transport, Direction: p.Direction})
		}
		pins, err := n.Pins(ctx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pinned := map[cid.Cid]bool{}
		for _, p := range pins {
			if p.Mode == "recursive" {
				st.Models = append(st.Models, model(ctx, p))
				pinned[p.CID] = true
			}
		}
		mu.Lock()
		maps.DeleteFunc(models, func(c cid.Cid, _ DashboardModel) bool { return !pinned[c] })
		mu.Unlock()
		cs := n.Blocks.Stats()
		st.Cache = DashboardCache{Hits: cs.Hits, Misses: cs.Misses, Bytes: cs.Bytes, MaxBytes: cs.MaxBytes}
		if reads := cs.Hits + cs.Misses; reads > 0 {
			st.Cache.HitRate = float64(cs.Hits) / float64(reads)
		}
		st.Bandwidth.TotalIn, st.Bandwidth.TotalOut = n.metrics.traffic(n)
		st.Bandwidth.Samples = n.metrics.bandwidth.snapshot()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(st) //nolint:errcheck // the client went away
	})
}

// bandwidthSamples is how many one-second traffic samples the dashboard
// gets: two minutes.
const bandwidthSamples = 120

// BandwidthSample is the traffic of one interval, in bytes per second.
type BandwidthSample struct {
	Time int64   `json:"t"` // end of the interval, Unix milliseconds
	In   float64 `json:"in"`
	Out  float64 `json:"out"`
}

// bandwidthLog keeps the latest traffic samples in a ring buffer.
type bandwidthLog struct {
	mu      sync.Mutex
	samples []BandwidthSample // the ring, full once len == cap
	next    int               // where the next sample goes once full
	last    time.Time         // the previous reading, zero before the first
	in, out uint64
}

func newBandwidthLog(size int) *bandwidthLog {
	return &bandwidthLog{samples: make([]BandwidthSample, 0, size)}
}

// run records read's counters every interval until ctx ends.
func (b *bandwidthLog) run(ctx context.Context, every time.Duration, read func() (in, out uint64)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		in, out := read()
		b.record(time.Now(), in, out)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// record takes the byte counters read at now; from the second reading on,
// it adds the rates since the previous one as a sample.
func (b *bandwidthLog) record(now time.Time, in, out uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		secs := now.Sub(b.last).Seconds()
		rate := func(n, prev uint64) float64 {
			if n < prev { // a counter that could not be read this time
				return 0
			}
			return float64(n-prev) / secs
		}
		s := BandwidthSample{Time: now.UnixMilli(), In: rate(in, b.in), Out: rate(out, b.out)}
		if len(b.samples) < cap(b.samples) {
			b.samples = append(b.samples, s)
		} else {
			b.samples[b.next] = s
			b.next = (b.next + 1) % len(b.samples)
		}
	}
	b.last, b.in, b.out = now, in, out
}

// snapshot returns the samples, oldest first.
func (b *bandwidthLog) snapshot() []BandwidthSample {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(append([]BandwidthSample{}, b.samples[b.next:]...), b.samples[:b.next]...)
}
