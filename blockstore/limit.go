package blockstore

import (
	"context"
	"errors"
	"fmt"

	blocks "github.com/ipfs/go-block-format"
)

// MaxBlockSize is the largest block the node stores or accepts: 2 MiB, the
// limit bitswap and Kubo enforce.
const MaxBlockSize = 2 << 20

// ErrBlockTooLarge is returned for a block over the size limit.
var ErrBlockTooLarge = errors.New("block too large")

// Limited refuses to store blocks of more than Max bytes; everything else
// passes through to the wrapped Blockstore. A PutMany with one oversized
// block stores none of them.
type Limited struct {
	Blockstore
	Max int
}

var _ Blockstore = (*Limited)(nil)

// Limit returns bs refusing blocks over max bytes (MaxBlockSize when max
// is 0).
func Limit(bs Blockstore, max int) *Limited {
	if max <= 0 {
		max = MaxBlockSize
	}
	return &Limited{Blockstore: bs, Max: max}
}

func (l *Limited) check(b blocks.Block) error {
	if n := len(b.RawData()); n > l.Max {
		return fmt.Errorf("blockstore: block %s is %d bytes, over the %d-byte limit: %w", b.Cid(), n, l.Max, ErrBlockTooLarge)
	}
	return nil
}

// Put stores b if it is within the limit.
func (l *Limited) Put(ctx context.Context, b blocks.Block) error {
	if err := l.check(b); err != nil {
		return err
	}
	return l.Blockstore.Put(ctx, b)
}

// PutMany stores bs if every block is within the limit.
func (l *Limited) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		if err := l.check(b); err != nil {
			return err
		}
	}
	return l.Blockstore.PutMany(ctx, bs)
}
