package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	flatfs "github.com/ipfs/go-ds-flatfs"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/transfer"
)

// blockShard is the flatfs layout of the repo's blocks (see Init).
var blockShard = flatfs.NextToLast(2).Func()

// blockFile is where flatfs keeps the block with c's multihash.
func (r *Repo) blockFile(c cid.Cid) string {
	key := dshelp.MultihashToDsKey(c.Hash()).String()[1:]
	return filepath.Join(r.Path, blocksDir, blockShard(key), key+flatfsExt)
}

// flatfsExt is flatfs's file name extension.
const flatfsExt = ".data"

// ReadBlock reads c's bytes from its flatfs file into buf (a fresh slice
// when buf is too small), as the bulk transfer server reads: straight from
// the file, without the blockstore's allocation per block. The bytes are
// not hashed; the receiving peer checks them.
func (r *Repo) ReadBlock(_ context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	f, err := os.Open(r.blockFile(c))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > blockstore.MaxBlockSize {
		return nil, fmt.Errorf("block %s: %d bytes on disk, over the %d-byte limit", c, st.Size(), blockstore.MaxBlockSize)
	}
	if int(st.Size()) > len(buf) {
		buf = make([]byte, st.Size())
	}
	n, err := io.ReadFull(f, buf[:st.Size()])
	return buf[:n], err
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
