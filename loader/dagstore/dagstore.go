// Package dagstore writes model DAGs into a blockstore: the UnixFS files
// of a model's components through boxo's importer, and the DAG service
// the node's pinner and garbage collector walk. The loader itself reads
// and plans DAGs without it, which keeps boxo out of the browser runtime.
package dagstore

import (
	"context"
	"io"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Files stores files and blocks in a blockstore; it is a loader.FileStore.
type Files struct {
	bs blockstore.Blockstore
}

// New returns the Files of bs.
func New(bs blockstore.Blockstore) Files { return Files{bs} }

// AddFile stores the bytes of r as a UnixFS file, a balanced DAG of raw
// leaves of chunkSize bytes and nodes of up to width links whose CIDs take
// prefix, and returns its CID.
func (f Files) AddFile(ctx context.Context, r io.Reader, chunkSize, width int, prefix cid.Prefix) (cid.Cid, error) {
	buf := ipld.NewBufferedDAG(ctx, DAGService(f.bs))
	params := helpers.DagBuilderParams{Dagserv: buf, Maxlinks: width, RawLeaves: true, CidBuilder: prefix}
	db, err := params.New(chunker.NewSizeSplitter(r, int64(chunkSize)))
	if err != nil {
		return cid.Undef, err
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return cid.Undef, err
	}
	if err := buf.Commit(); err != nil {
		return cid.Undef, err
	}
	return nd.Cid(), nil
}

// Put stores block b.
func (f Files) Put(ctx context.Context, b blocks.Block) error { return f.bs.Put(ctx, b) }

// DAGService is an offline DAG service over bs.
func DAGService(bs blockstore.Blockstore) ipld.DAGService {
	return merkledag.NewDAGService(blockservice.New(bs, nil))
}
