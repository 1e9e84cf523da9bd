package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader"
)

// ModelStat summarizes a model in the repo.
type ModelStat struct {
	Root            string                 `json:"root"`
	Version         string                 `json:"version"`
	Architecture    string                 `json:"architecture"`
	Precision       string                 `json:"precision"` // "" when the weights keep their source formats
	Hyperparameters loader.Hyperparameters `json:"hyperparameters"`
	Size            int64                  `json:"size"` // bytes of all components
	Pinned          bool                   `json:"pinned"`
	Components      []ComponentStat        `json:"components"` // load order
	LocalBlocks     int                    `json:"local_blocks"`
	RemoteBlocks    int                    `json:"remote_blocks"`
}

// ComponentStat is one component of a ModelStat. RemoteBlocks counts the
// missing blocks found under local ones: a missing inner node hides how
// many blocks lie below it, so it counts as one.
type ComponentStat struct {
	Name         string `json:"name"`
	Priority     int    `json:"priority"`
	CID          string `json:"cid"`
	Size         int64  `json:"size"`
	Tensors      int    `json:"tensors"`
	LocalBlocks  int    `json:"local_blocks"`
	RemoteBlocks int    `json:"remote_blocks"`
}

// Stat reads the manifest at root (which must be local) and counts the
// local and missing blocks of each component.
func (r *Repo) Stat(ctx context.Context, root cid.Cid) (*ModelStat, error) {
	m, err := r.Model(ctx, root)
	if err != nil {
		return nil, err
	}
	man := m.Manifest
	_, pinned, err := r.Pinner.IsPinned(ctx, root)
	if err != nil {
		return nil, err
	}
	st := &ModelStat{
		Root: root.String(), Version: man.Version, Architecture: man.Architecture, Precision: man.Precision,
		Hyperparameters: man.Hyperparameters, Size: man.Size(), Pinned: pinned,
		LocalBlocks: 1, // the manifest
	}
	for _, c := range man.Components {
		cs := ComponentStat{Name: c.Name, Priority: c.Priority, CID: c.CID.String(), Size: c.Size, Tensors: len(c.Tensors)}
		seen := cid.NewSet()
		err := r.walk(ctx, c.CID, func(k cid.Cid) bool {
			if !seen.Visit(k) {
				return false
			}
			has, err := r.Blocks.Has(ctx, k)
			if err == nil && has {
				cs.LocalBlocks++
				return true
			}
			cs.RemoteBlocks++
			return false
		})
		if err != nil && !ipld.IsNotFound(err) {
			return nil, fmt.Errorf("stat %s: component %s: %w", root, c.Name, err)
		}
		st.LocalBlocks += cs.LocalBlocks
		st.RemoteBlocks += cs.RemoteBlocks
		st.Components = append(st.Components, cs)
	}
	return st, nil
}

// RepoStat describes the repo's storage.
type RepoStat struct {
	Path       string `json:"path"`
	Blocks     int    `json:"blocks"`
	Bytes      int64  `json:"bytes"`
	StorageMax int64  `json:"storage_max"`
	Pins       int    `json:"pins"`
	PeerID     string `json:"peer_id"`
}

// RepoStat counts the blocks and their bytes.
func (r *Repo) RepoStat(ctx context.Context) (*RepoStat, error) {
	st := &RepoStat{Path: r.Path}
	if r.Config != nil {
		st.StorageMax, st.PeerID = r.Config.Datastore.StorageMax, r.Config.Identity.PeerID
	}
	keys, err := r.Blocks.AllKeysChan(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys {
		n, err := r.Blocks.GetSize(ctx, k)
		if err != nil {
			return nil, err
		}
		st.Blocks++
		st.Bytes += int64(n)
	}
	pins, err := r.Pins(ctx)
	if err != nil {
		return nil, err
	}
	st.Pins = len(pins)
	return st, ctx.Err()
}

// Verify re-hashes every stored block, read from the disk past the hot
// cache, and returns how many it checked and the CIDs (raw codec) of those
// whose bytes no longer match.
func (r *Repo) Verify(ctx context.Context) (int, []cid.Cid, error) {
	keys, err := r.stored.AllKeysChan(ctx)
	if err != nil {
		return 0, nil, err
	}
	var (
		n   int
		bad []cid.Cid
	)
	for k := range keys {
		n++
		if err := blockstore.Verify(ctx, r.stored, k); errors.Is(err, blockstore.ErrHashMismatch) {
			bad = append(bad, k)
		} else if err != nil {
			return n, bad, err
		}
	}
	return n, bad, ctx.Err()
}
