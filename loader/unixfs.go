package loader

import (
	"context"
	"fmt"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	unixfsdata "github.com/ipfs/go-unixfsnode/data"
	dagpb "github.com/ipld/go-codec-dagpb"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"golang.org/x/sync/errgroup"
)

// BlockGetter gives the blocks of a model DAG: a blockstore, or a service
// that fetches what is missing from peers (which then checks each block
// against its CID; blocks already in a local blockstore are trusted as
// stored).
type BlockGetter interface {
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// GetterFunc is a function as a BlockGetter, such as a block service's
// GetBlock.
type GetterFunc func(ctx context.Context, c cid.Cid) (blocks.Block, error)

// Get calls f.
func (f GetterFunc) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) { return f(ctx, c) }

// FileNode is a block of a UnixFS file: the file bytes it holds itself,
// then its children, each with the file bytes it holds.
type FileNode struct {
	Data     []byte
	Children []cid.Cid
	Sizes    []uint64
}

// DecodeFileNode decodes block b of a UnixFS file: a raw leaf, whose bytes
// are its data, or a dag-pb node of UnixFS type File or Raw with a
// blocksize for each link.
func DecodeFileNode(b blocks.Block) (FileNode, error) {
	switch b.Cid().Type() {
	case cid.Raw:
		return FileNode{Data: b.RawData()}, nil
	case cid.DagProtobuf:
	default:
		return FileNode{}, fmt.Errorf("block %s is neither raw nor dag-pb", b.Cid())
	}
	nb := dagpb.Type.PBNode.NewBuilder()
	if err := dagpb.DecodeBytes(nb, b.RawData()); err != nil {
		return FileNode{}, fmt.Errorf("block %s: %w", b.Cid(), err)
	}
	pn := nb.Build().(dagpb.PBNode)
	if !pn.FieldData().Exists() {
		return FileNode{}, fmt.Errorf("block %s is a dag-pb node without UnixFS data", b.Cid())
	}
	fd, err := unixfsdata.DecodeUnixFSData(pn.FieldData().Must().Bytes())
	if err != nil {
		return FileNode{}, fmt.Errorf("block %s: %w", b.Cid(), err)
	}
	if t := fd.FieldDataType().Int(); t != unixfsdata.Data_File && t != unixfsdata.Data_Raw {
		return FileNode{}, fmt.Errorf("block %s is a UnixFS %s, not part of a file", b.Cid(), unixfsdata.DataTypeNames[t])
	}
	var n FileNode
	if d := fd.FieldData(); d.Exists() {
		n.Data = d.Must().Bytes()
	}
	sizes := fd.FieldBlockSizes()
	if sizes.Length() != pn.FieldLinks().Length() {
		return FileNode{}, fmt.Errorf("block %s has %d links and %d blocksizes", b.Cid(), pn.FieldLinks().Length(), sizes.Length())
	}
	for it := pn.FieldLinks().Iterator(); !it.Done(); {
		_, link := it.Next()
		n.Children = append(n.Children, link.FieldHash().Link().(cidlink.Link).Cid)
	}
	for it := sizes.Iterator(); !it.Done(); {
		_, size := it.Next()
		if size.Int() < 0 {
			return FileNode{}, fmt.Errorf("block %s has a negative blocksize", b.Cid())
		}
		n.Sizes = append(n.Sizes, uint64(size.Int()))
	}
	return n, nil
}

// fileReads is how many blocks readFile fetches at once.
const fileReads = 16

// readFile reads len(buf) bytes from offset of the UnixFS file at root, a
// file of size bytes, fetching only the blocks that hold them: a level of
// the tree at a time, fileReads blocks in flight. Each block must hold the
// bytes its parent says (the root: size).
func readFile(ctx context.Context, get BlockGetter, root cid.Cid, size, offset int64, buf []byte) error {
	type part struct {
		c         cid.Cid
		off, size uint64 // the file bytes the block holds
	}
	from, to := uint64(offset), uint64(offset)+uint64(len(buf))
	level := []part{{root, 0, uint64(size)}}
	for len(level) > 0 {
		var (
			mu   sync.Mutex
			next []part
		)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fileReads)
		for _, p := range level {
			g.Go(func() error {
				b, err := get.Get(gctx, p.c)
				if err != nil {
					return err
				}
				n, err := DecodeFileNode(b)
				if err != nil {
					return err
				}
				held := uint64(len(n.Data))
				for _, s := range n.Sizes {
					if held += s; s > p.size || held > p.size {
						break
					}
				}
				if held != p.size {
					return fmt.Errorf("block %s holds %d bytes of the file where %d are expected", p.c, held, p.size)
				}
				if lo, hi := max(p.off, from), min(p.off+uint64(len(n.Data)), to); lo < hi {
					copy(buf[lo-from:hi-from], n.Data[lo-p.off:hi-p.off])
				}
				off := p.off + uint64(len(n.Data))
				mu.Lock()
				defer mu.Unlock()
				for i, child := range n.Children {
					if off < to && off+n.Sizes[i] > from {
						next = append(next, part{child, off, n.Sizes[i]})
					}
					off += n.Sizes[i]
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		level = next
	}
	return nil
}
