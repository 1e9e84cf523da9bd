package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	ds "github.com/ipfs/go-datastore"
)

// dirtyFile marks a repo in use. Close removes it; a process that dies
// with the repo open leaves it behind, and the next Open checks the blocks.
const dirtyFile = "repo.dirty"

// syncBlocks makes every block written so far durable. Blocks are written
// without an fsync each (as Kubo writes them); this one sync of the blocks'
// filesystem (see blockstore.FlatFS.Sync) runs before a pin is recorded,
// so a pinned DAG never depends on writes a crash could lose.
func (r *Repo) syncBlocks(ctx context.Context) error {
	return r.dstore.Sync(ctx, ds.NewKey("/"+blocksDir))
}

// markInUse records that the repo is open, after checking the blocks when
// the previous process did not close it.
func (r *Repo) markInUse(ctx context.Context) error {
	mark := filepath.Join(r.Path, dirtyFile)
	if _, err := os.Stat(mark); err == nil {
		if err := r.dropTornBlocks(ctx); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return writeFileAtomic(mark, nil, 0o600)
}

// markClosed removes the in-use mark.
func (r *Repo) markClosed() error {
	if r.Path == "" {
		return nil
	}
	err := os.Remove(filepath.Join(r.Path, dirtyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// dropTornBlocks deletes the blocks whose bytes do not match their CID:
// writes that a crash cut short before they were synced. Pinned blocks
// were synced before their pins were recorded, so only unpinned ones can
// be torn, and gc would have removed them anyway.
func (r *Repo) dropTornBlocks(ctx context.Context) error {
	n, bad, err := r.Verify(ctx)
	if err != nil {
		return fmt.Errorf("checking the blocks after an unclean stop: %w", err)
	}
	for _, c := range bad {
		if err := r.Blocks.DeleteBlock(ctx, c); err != nil {
			return fmt.Errorf("deleting torn block %s: %w", c, err)
		}
	}
	if len(bad) > 0 {
		log.Printf("repo %s was not closed cleanly: dropped %d torn blocks of %d", r.Path, len(bad), n)
	}
	return nil
}
