package blockstore

import (
	"context"
	"fmt"

	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
)

// ErrHashMismatch is returned when a stored block's bytes do not hash to
// its CID.
var ErrHashMismatch = bstore.ErrHashMismatch

// Verifying returns bs with every Get re-hashing the block and failing
// with ErrHashMismatch when its bytes do not match its CID (boxo's
// ValidatingBlockstore).
func Verifying(bs Blockstore) Blockstore {
	return &bstore.ValidatingBlockstore{Blockstore: bs}
}

// Verify reads the block c from bs and checks that its bytes hash to c.
func Verify(ctx context.Context, bs Blockstore, c cid.Cid) error {
	b, err := bs.Get(ctx, c)
	if err != nil {
		return err
	}
	sum, err := c.Prefix().Sum(b.RawData())
	if err != nil {
		return fmt.Errorf("blockstore: hashing %s: %w", c, err)
	}
	if !sum.Equals(c) {
		return fmt.Errorf("blockstore: block %s: %w", c, ErrHashMismatch)
	}
	return nil
}
