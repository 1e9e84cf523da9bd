package node

import (
	"context"
	"errors"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/transfer"
)

// ReadBlock reads c's bytes from its file into buf (a fresh slice when buf
// is too small), as the bulk transfer server reads: straight from the
// file (see blockstore.FlatFS.ReadInto), without the blockstore's
// allocation per block. The bytes are not hashed; the receiving peer
// checks them. A repo in memory reads through its blockstore.
func (r *Repo) ReadBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	if r.flat == nil {
		b, err := r.Blocks.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		return b.RawData(), nil
	}
	data, err := r.flat.ReadInto(dshelp.MultihashToDsKey(c.Hash()), buf)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	return data, err
}

// servedStore is what the bulk transfer server reads: the hot cache's
// blockstore, with blocks read from their files into the server's buffers.
type servedStore struct {
	*blockstore.Cache
	repo *Repo
}

var _ transfer.BlockReader = servedStore{}

func (s servedStore) ReadBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	return s.repo.ReadBlock(ctx, c, buf)
}
