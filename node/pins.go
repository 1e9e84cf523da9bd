package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/blockstore"
)

// ErrNotLocal is returned when a block an operation reads without
// fetching it is not in the repo. It is an ErrNotFound.
var ErrNotLocal = NotFound(errors.New("not in the local repo"))

// notLocal turns a missing block into ErrNotLocal, for an offline
// operation that the daemon fetches for.
func notLocal(err error) error {
	return missingBlock(err, "run `accel daemon` to fetch it from the network")
}

// missingBlock turns a missing block into ErrNotLocal, with hint saying
// how to get it.
func missingBlock(err error, hint string) error {
	var nf ipld.ErrNotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("block %s is %w (%s)", nf.Cid, ErrNotLocal, hint)
	}
	return err
}

// Pin pins the DAG at c recursively under name. Offline, every block of
// the DAG must already be in the repo; the pin is recorded (durably) only
// once they all are, and after the priorities of a model's blocks (see
// recordPriorities). A CID already pinned recursively keeps its pin as it
// is (boxo's pinner would drop and re-add it, and a crash between the two
// would lose it).
func (r *Repo) Pin(ctx context.Context, c cid.Cid, name string) error {
	if !c.Defined() {
		return Invalid(errors.New("pin: undefined CID"))
	}
	if _, ok, err := r.Pinner.IsPinnedWithType(ctx, c, pin.Recursive); err != nil {
		return err
	} else if ok {
		return nil
	}
	nd, err := r.DAG.Get(ctx, c)
	if err != nil {
		return fmt.Errorf("pin %s: %w", c, notLocal(err))
	}
	if err := r.recordPriorities(ctx, c); err != nil {
		return fmt.Errorf("pin %s: %w", c, notLocal(err))
	}
	if err := r.syncBlocks(ctx); err != nil {
		return err
	}
	if err := r.Pinner.Pin(ctx, nd, true, name); err != nil {
		return fmt.Errorf("pin %s: %w", c, notLocal(err))
	}
	return r.Pinner.Flush(ctx)
}

// Unpin removes the recursive pin of c.
func (r *Repo) Unpin(ctx context.Context, c cid.Cid) error {
	if err := r.Pinner.Unpin(ctx, c, true); err != nil {
		if errors.Is(err, pin.ErrNotPinned) {
			return NotFound(fmt.Errorf("unpin %s: not pinned", c))
		}
		return fmt.Errorf("unpin %s: %w", c, err)
	}
	return r.Pinner.Flush(ctx)
}

// PinInfo is one pin.
type PinInfo struct {
	CID  cid.Cid
	Mode string // "recursive" or "direct"
	Name string
}

// Pins lists the recursive and direct pins.
func (r *Repo) Pins(ctx context.Context) ([]PinInfo, error) {
	var out []PinInfo
	for _, ch := range []<-chan pin.StreamedPin{r.Pinner.RecursiveKeys(ctx, true), r.Pinner.DirectKeys(ctx, true)} {
		for sp := range ch {
			if sp.Err != nil {
				return nil, sp.Err
			}
			mode, _ := pin.ModeToString(sp.Pin.Mode)
			out = append(out, PinInfo{CID: sp.Pin.Key, Mode: mode, Name: sp.Pin.Name})
		}
	}
	return out, nil
}

// walk visits every block of the DAG at root once (pre-order, links in
// order), through the offline DAG service; visit returns false to skip a
// block's children.
func (r *Repo) walk(ctx context.Context, root cid.Cid, visit func(cid.Cid) bool) error {
	return merkledag.Walk(ctx, merkledag.GetLinksWithDAG(r.DAG), root, visit)
}

// pinDAG is the DAG service the pinner walks to check that a DAG is whole
// before pinning it. Raw leaves have no links, so it checks that they are
// stored without reading them: a pin of a 500 MiB model reads its few
// UnixFS nodes, not its 500 MiB. Every block was verified when it was
// stored.
type pinDAG struct {
	ipld.DAGService
	blocks blockstore.Blockstore
}

func (d pinDAG) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	if c.Type() != cid.Raw {
		return d.DAGService.Get(ctx, c)
	}
	ok, err := d.blocks.Has(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	// A stand-in for the leaf: its CID, no bytes (nothing on the pinning
	// path reads them).
	leaf, err := blocks.NewBlockWithCid(nil, c)
	if err != nil {
		return nil, err
	}
	return &merkledag.RawNode{Block: leaf}, nil
}
