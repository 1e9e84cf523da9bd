package loader

import "fmt"

// PlanOptions describe where a load of a model starts.
type PlanOptions struct {
	// Local reports the components held already: the load does not fetch
	// them, but their weights count toward Budget (nil: none is local).
	Local func(name string) bool
	// Offload says a peer can run the layers the load does not hold.
	Offload bool
	// OffloadHead says a peer can run the whole model, embedding and
	// classifier included, until they are local (it implies Offload): the
	// minimum viable model is then the tokenizer alone.
	OffloadHead bool
	// Budget is the most bytes of weights to hold (0: no limit).
	Budget int64
}

// LoadPlan is what a load fetches, in order, and the layers it leaves to a
// peer. Every component of the model is in exactly one of Fetch, Remote
// and the components already local.
type LoadPlan struct {
	Fetch  []Component // to fetch, in this order
	Remote []int       // layers neither local nor fetched: a peer runs them
	// Viable is how many components of Fetch, from the first, must be
	// local before the model can generate (0: it can already).
	Viable int
}

// Plan orders the components of m for a load. Without offload, the load
// fetches every component in manifest order — the critical path, the order
// a node pins a model in — and the model is viable once all are local; a
// model over the budget is an error. With offload, the minimum viable
// model comes first — tokenizer, embed, head: with those local the model
// can generate, a peer running the layers it lacks — then the layers in
// order while their weights fit the budget; the layers after the first
// that does not fit are left to the peer. With OffloadHead the order is
// the same and the model is viable once the tokenizer is local.
func Plan(m *Manifest, opts PlanOptions) (LoadPlan, error) {
	local := opts.Local
	if local == nil {
		local = func(string) bool { return false }
	}
	var p LoadPlan
	if !opts.Offload && !opts.OffloadHead {
		if size := m.Size(); opts.Budget > 0 && size > opts.Budget {
			return p, fmt.Errorf("the model's %d MiB of weights exceed the budget of %d MiB and no peer can run the rest", size>>20, opts.Budget>>20)
		}
		for _, c := range m.Components {
			if !local(c.Name) {
				p.Fetch = append(p.Fetch, c)
			}
		}
		p.Viable = len(p.Fetch)
		return p, nil
	}
	var used int64 // weights held once Fetch is local
	for _, c := range m.Components {
		_, isLayer := c.Layer()
		switch {
		case local(c.Name):
			used += c.Size
		case !isLayer:
			p.Fetch = append(p.Fetch, c)
			used += c.Size
		}
	}
	p.Viable = len(p.Fetch)
	if opts.OffloadHead {
		p.Viable = 0
		for i, c := range p.Fetch {
			if c.Name == ComponentTokenizer {
				p.Viable = i + 1
			}
		}
	}
	for _, c := range m.Components {
		layer, isLayer := c.Layer()
		switch {
		case !isLayer || local(c.Name):
		case len(p.Remote) > 0 || opts.Budget > 0 && used+c.Size > opts.Budget:
			p.Remote = append(p.Remote, layer)
		default:
			p.Fetch = append(p.Fetch, c)
			used += c.Size
		}
	}
	return p, nil
}
