package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader"
)

// Last use of models. The repo records, per model root, when it was last
// added, imported or read through the repo (Model, Stat, ExportCAR): one
// 8-byte big-endian Unix time in seconds under /lastuse/<root CID> in the
// leveldb datastore. That is one small synchronous write per operation,
// never one per block read. GCTo reads these times to order eviction.
const lastUsePrefix = "/lastuse/"

// PriorityStep is the age, in seconds, that one step of component
// priority is worth in GCTo's eviction weight.
const PriorityStep = 60

// AutoGCWatermark is the share of StorageMax, in percent, that the
// collection run after Add and ImportCAR brings the repo down to once it
// exceeds StorageMax (Kubo's StorageGCWatermark is 90 too).
const AutoGCWatermark = 90

// ErrOverBudget is returned by GCTo when deleting every unpinned block
// still leaves the repo over the budget.
var ErrOverBudget = errors.New("the pinned blocks alone exceed the budget")

func lastUseKey(root cid.Cid) ds.Key { return ds.NewKey(lastUsePrefix + root.String()) }

// clock returns the time; tests replace it.
func (r *Repo) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// touch records that root was used now. A failure to record is not the
// caller's failure: it only makes the root look older to GCTo.
func (r *Repo) touch(ctx context.Context, root cid.Cid) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(r.clock().Unix()))
	_ = r.dstore.Put(ctx, lastUseKey(root), b[:])
}

// LastUse returns when each tracked root was last used (Unix seconds).
func (r *Repo) LastUse(ctx context.Context) (map[cid.Cid]int64, error) {
	res, err := r.dstore.Query(ctx, dsq.Query{Prefix: lastUsePrefix})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	out := map[cid.Cid]int64{}
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		c, err := cid.Decode(ds.RawKey(e.Key).BaseNamespace())
		if err != nil || len(e.Value) != 8 {
			continue
		}
		out[c] = int64(binary.BigEndian.Uint64(e.Value))
	}
	return out, nil
}

// forgetGone drops the last-use records of the roots whose manifest
// block is no longer in the repo.
func (r *Repo) forgetGone(ctx context.Context, uses map[cid.Cid]int64) {
	for root := range uses {
		if has, err := r.Blocks.Has(ctx, root); err == nil && !has {
			_ = r.dstore.Delete(ctx, lastUseKey(root))
		}
	}
}

// GCToResult is what GCTo removed and what the repo holds after.
type GCToResult struct {
	blockstore.GCResult
	Before int64 // bytes of blocks before
	After  int64 // bytes of blocks after
}

// GCTo deletes unpinned blocks, least valuable first, until the repo's
// blocks take at most budget bytes; it does nothing when they already do.
// Blocks reachable from a pin are never deleted, so a budget below the
// pinned data deletes every unpinned block and returns ErrOverBudget.
//
// The weight of a block of a tracked model (one with a last-use record
// and a local manifest) is
//
//	weight = lastUse - PriorityStep*priority
//
// where lastUse is the model's last use in Unix seconds and priority is
// loader.Priority of the block's component (tokenizer 0, embed 1, head 2,
// layer.N 3+N); the manifest block counts as priority 0. So within one
// model later layers go before the head, embed and tokenizer, and a
// model used more recently outweighs an older one unless the gap is
// smaller than the priority difference times PriorityStep. A block shared
// by several components or models takes the highest of their weights.
// Blocks of no tracked model go first. Blocks are deleted in ascending
// weight (CID order among equals) until the repo is under budget.
func (r *Repo) GCTo(ctx context.Context, budget int64) (GCToResult, error) {
	release, err := r.gcLock.exclude(ctx)
	if err != nil {
		return GCToResult{}, err
	}
	defer release()
	return r.gcTo(ctx, budget)
}

// gcTo is GCTo with the GC lock held.
func (r *Repo) gcTo(ctx context.Context, budget int64) (GCToResult, error) {
	var res GCToResult
	live, err := r.live(ctx)
	if err != nil {
		return res, err
	}
	keys, err := r.Blocks.AllKeysChan(ctx)
	if err != nil {
		return res, err
	}
	type cand struct {
		c      cid.Cid
		size   int64
		weight int64
	}
	var cands []*cand
	byHash := map[string]*cand{}
	for k := range keys {
		n, err := r.Blocks.GetSize(ctx, k)
		if err != nil {
			return res, err
		}
		res.Before += int64(n)
		if live.Has(k.Hash()) {
			continue
		}
		cd := &cand{c: k, size: int64(n), weight: math.MinInt64}
		cands = append(cands, cd)
		byHash[string(k.Hash())] = cd
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.After = res.Before
	if res.Before <= budget {
		return res, nil
	}
	uses, err := r.LastUse(ctx)
	if err != nil {
		return res, err
	}
	raise := func(c cid.Cid, w int64) {
		if cd, ok := byHash[string(c.Hash())]; ok && w > cd.weight {
			cd.weight = w
		}
	}
	for root, t := range uses {
		if has, err := r.Blocks.Has(ctx, root); err != nil {
			return res, err
		} else if !has {
			continue
		}
		m, err := loader.Open(ctx, root, r.Blocks)
		if err != nil {
			continue // not a model manifest, or unreadable: its blocks count as untracked
		}
		raise(root, t)
		for _, comp := range m.Manifest.Components {
			w := t - PriorityStep*int64(max(comp.Priority, 0))
			seen := cid.NewSet()
			err := r.walk(ctx, comp.CID, func(k cid.Cid) bool {
				if !seen.Visit(k) {
					return false
				}
				if has, err := r.Blocks.Has(ctx, k); err != nil || !has {
					return false
				}
				raise(k, w)
				return true
			})
			if err != nil && ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].weight != cands[j].weight {
			return cands[i].weight < cands[j].weight
		}
		return cands[i].c.KeyString() < cands[j].c.KeyString()
	})
	for _, cd := range cands {
		if res.After <= budget {
			break
		}
		if err := r.Blocks.DeleteBlock(ctx, cd.c); err != nil {
			return res, fmt.Errorf("gc: deleting %s: %w", cd.c, err)
		}
		res.Blocks++
		res.Bytes += cd.size
		res.After -= cd.size
	}
	if res.Blocks > 0 {
		r.forgetPriorities(ctx)
	}
	r.forgetGone(ctx, uses)
	if res.After > budget {
		return res, fmt.Errorf("gc to %d bytes: %d bytes left: %w", budget, res.After, ErrOverBudget)
	}
	return res, nil
}

// autoGC runs GCTo down to AutoGCWatermark percent of StorageMax when the
// repo's blocks exceed StorageMax. Pinned data over the budget is not an
// error here: there is nothing more it may delete.
func (r *Repo) autoGC(ctx context.Context) error {
	if r.Config == nil || r.Config.Datastore.StorageMax <= 0 {
		return nil
	}
	limit := r.Config.Datastore.StorageMax
	release, err := r.gcLock.exclude(ctx)
	if err != nil {
		return err
	}
	defer release()
	total, err := r.blockBytes(ctx)
	if err != nil || total <= limit {
		return err
	}
	if _, err := r.gcTo(ctx, limit/100*AutoGCWatermark); err != nil && !errors.Is(err, ErrOverBudget) {
		return fmt.Errorf("gc to StorageMax: %w", err)
	}
	return nil
}

// blockBytes adds up the sizes of the stored blocks.
func (r *Repo) blockBytes(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the key listing on an early return
	keys, err := r.Blocks.AllKeysChan(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for k := range keys {
		n, err := r.Blocks.GetSize(ctx, k)
		if err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, ctx.Err()
}
