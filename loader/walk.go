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

// Walker fetches a DAG breadth first, one level of links at a time, and
// leaves where the blocks come from to its caller: Fetch makes a level's
// blocks available, and the walker reads back, with Get, those that can
// link to others, to find the next level.
type Walker struct {
	// Fetch makes every block of level available to Get. A level lists
	// the blocks the level before links to, parent by parent in link
	// order, leaving out those the walk has met already; it may hold
	// blocks that are local already.
	Fetch func(ctx context.Context, level []cid.Cid) error
	// Get returns a block Fetch made available. The walk reads every
	// block but raw leaves, which link to nothing.
	Get func(ctx context.Context, c cid.Cid) (blocks.Block, error)
	// Plan, when set and the root is a model manifest, is given the
	// manifest and its block's size, and returns the components the walk
	// goes on to, in order (see the function Plan). Nil: the walk follows
	// the manifest's links, every component in manifest order.
	Plan func(m *Manifest, size int) ([]Component, error)
}

// Walk fetches the DAG at root, following each block's links as its codec
// (dag-pb, dag-cbor or any codec registered with go-ipld-prime) holds them.
func (w Walker) Walk(ctx context.Context, root cid.Cid) error {
	level := []cid.Cid{root}
	seen := cid.NewSet()
	seen.Add(root)
	for len(level) > 0 {
		if err := w.Fetch(ctx, level); err != nil {
			return err
		}
		var next []cid.Cid
		for _, c := range level {
			children, err := w.children(ctx, c, c == root)
			if err != nil {
				return err
			}
			for _, child := range children {
				if seen.Visit(child) {
					next = append(next, child)
				}
			}
		}
		level = next
	}
	return nil
}

// children returns the blocks c links to, in link order, or for a model
// manifest at the root with a Plan, the roots of the components it chose.
func (w Walker) children(ctx context.Context, c cid.Cid, root bool) ([]cid.Cid, error) {
	if c.Type() == cid.Raw {
		return nil, nil
	}
	b, err := w.Get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("loader: reading %s: %w", c, err)
	}
	if root && w.Plan != nil && c.Type() == cid.DagCBOR {
		if m, err := DecodeManifest(b.RawData()); err == nil {
			components, err := w.Plan(m, len(b.RawData()))
			if err != nil {
				return nil, err
			}
			cids := make([]cid.Cid, len(components))
			for i, comp := range components {
				cids[i] = comp.CID
			}
			return cids, nil
		}
	}
	cids, err := links(b)
	if err != nil {
		return nil, fmt.Errorf("loader: decoding %s: %w", c, err)
	}
	return cids, nil
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
