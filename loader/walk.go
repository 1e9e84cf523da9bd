package loader

import (
	"bytes"
	"context"
	"fmt"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/multicodec"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/traversal"
)

// Ref is a block a walk fetches.
type Ref struct {
	CID cid.Cid
	// Component is the model component whose file holds the block, in a
	// walk that starts at a model manifest; nil for the manifest itself
	// and for every block of any other DAG.
	Component *Component
}

// Walker fetches a DAG breadth first, one level of links at a time, and
// leaves where the blocks come from to its caller: Fetch makes a level's
// blocks available, and the walker reads back, with Get, those that can
// link to others, to find the next level.
type Walker struct {
	// Fetch makes every block of level available to Get. A level lists
	// the blocks the level before links to, parent by parent in link
	// order, leaving out those the walk has met already; it may hold
	// blocks that are local already.
	Fetch func(ctx context.Context, level []Ref) error
	// Get returns a block Fetch made available. The walk reads every
	// block but raw leaves, which link to nothing.
	Get func(ctx context.Context, c cid.Cid) (blocks.Block, error)
	// Manifest, when set, is called when the root turns out to be a model
	// manifest, with the manifest and its block's size, before the level
	// of its components is fetched.
	Manifest func(m *Manifest, size int)
}

// Walk fetches the DAG at root. Below a model manifest, the next level is
// its components in manifest order, each block below tagged with its
// component; every other block's links are those its codec (dag-pb,
// dag-cbor or any codec registered with go-ipld-prime) holds.
func (w Walker) Walk(ctx context.Context, root cid.Cid) error {
	level := []Ref{{CID: root}}
	seen := cid.NewSet()
	seen.Add(root)
	for len(level) > 0 {
		if err := w.Fetch(ctx, level); err != nil {
			return err
		}
		var next []Ref
		for _, r := range level {
			children, err := w.children(ctx, r, r.CID == root)
			if err != nil {
				return err
			}
			for _, c := range children {
				if seen.Visit(c.CID) {
					next = append(next, c)
				}
			}
		}
		level = next
	}
	return nil
}

// children returns the blocks r links to, in link order, tagged with r's
// component (or, for a manifest at the root, with their own).
func (w Walker) children(ctx context.Context, r Ref, root bool) ([]Ref, error) {
	if r.CID.Type() == cid.Raw {
		return nil, nil
	}
	b, err := w.Get(ctx, r.CID)
	if err != nil {
		return nil, fmt.Errorf("loader: reading %s: %w", r.CID, err)
	}
	if root && r.CID.Type() == cid.DagCBOR {
		if m, err := DecodeManifest(b.RawData()); err == nil {
			if w.Manifest != nil {
				w.Manifest(m, len(b.RawData()))
			}
			refs := make([]Ref, len(m.Components))
			for i := range m.Components {
				refs[i] = Ref{CID: m.Components[i].CID, Component: &m.Components[i]}
			}
			return refs, nil
		}
	}
	links, err := links(b)
	if err != nil {
		return nil, fmt.Errorf("loader: decoding %s: %w", r.CID, err)
	}
	refs := make([]Ref, len(links))
	for i, l := range links {
		refs[i] = Ref{CID: l, Component: r.Component}
	}
	return refs, nil
}

// links decodes b with its CID's codec and returns its links in order.
func links(b blocks.Block) ([]cid.Cid, error) {
	decode, err := multicodec.LookupDecoder(b.Cid().Type())
	if err != nil {
		return nil, err
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := decode(nb, bytes.NewReader(b.RawData())); err != nil {
		return nil, err
	}
	found, err := traversal.SelectLinks(nb.Build())
	if err != nil {
		return nil, err
	}
	cids := make([]cid.Cid, len(found))
	for i, l := range found {
		cl, ok := l.(cidlink.Link)
		if !ok {
			return nil, fmt.Errorf("link %v is not a CID", l)
		}
		cids[i] = cl.Cid
	}
	return cids, nil
}
