package blockstore

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// DefaultPriority is the priority of a block nobody gave one: less
// important than any model component (whose priorities, loader.Priority,
// start at 0 for the tokenizer).
const DefaultPriority = 1 << 20

// Cache is an in-memory hot-block cache over a Blockstore, bounded in
// bytes and weighted by priority: each block is filed under the priority
// that the lookup given to NewCache returns for it when it is read. It
// guarantees:
//
//   - the cached block bytes never total more than its byte budget, and a
//     block larger than the budget is never cached;
//   - a block is admitted only by evicting blocks of the same or a lower
//     priority (a larger number), least recently used first, lowest
//     priority first — so the critical path of a model (tokenizer, embed,
//     head) stays cached while later layers come and go;
//   - Get returns exactly the stored bytes: blocks are immutable, so a
//     cached copy never goes stale; DeleteBlock drops the cached copy
//     before deleting the stored one.
//
// Blocks enter the cache when read (Get), not when written: an import
// streams through Put without flushing the hot set. Hits and misses of Get
// are counted. A Cache is safe for concurrent use.
type Cache struct {
	bs       Blockstore
	max      int64
	priority func(context.Context, cid.Cid) int

	mu    sync.Mutex
	tiers map[int]*simplelru.LRU[string, []byte] // cached blocks by priority
	order []int                                  // the keys of tiers, ascending
	bytes map[int]int64                          // cached bytes by tier
	tier  map[string]int                         // multihash → its tier
	size  int64

	hits, misses atomic.Uint64
}

var _ Blockstore = (*Cache)(nil)

// NewCache returns bs with a hot cache of at most maxBytes bytes of blocks,
// which files a block it reads under priority(ctx, k): lower is more
// important, DefaultPriority for a block of no known importance.
func NewCache(bs Blockstore, maxBytes int64, priority func(ctx context.Context, k cid.Cid) int) *Cache {
	return &Cache{
		bs:       bs,
		max:      maxBytes,
		priority: priority,
		tiers:    map[int]*simplelru.LRU[string, []byte]{},
		bytes:    map[int]int64{},
		tier:     map[string]int{},
	}
}

// CacheStats are a Cache's counters.
type CacheStats struct {
	Hits, Misses uint64 // Gets answered from memory, and from the blockstore
	Blocks       int    // blocks cached now
	Bytes        int64  // their bytes
	MaxBytes     int64  // the budget
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Blocks: len(c.tier), Bytes: c.size, MaxBytes: c.max}
}

// Get returns the block from memory when cached, else from the wrapped
// blockstore, caching it under its priority.
func (c *Cache) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	key := string(k.Hash())
	c.mu.Lock()
	if t, ok := c.tier[key]; ok {
		data, _ := c.tiers[t].Get(key)
		c.mu.Unlock()
		c.hits.Add(1)
		return blocks.NewBlockWithCid(data, k)
	}
	c.mu.Unlock()
	c.misses.Add(1)
	b, err := c.bs.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	c.add(key, c.priority(ctx, k), b.RawData())
	return b, nil
}

// add caches data under priority p if room can be made by evicting blocks
// of priority p or lower.
func (c *Cache) add(key string, p int, data []byte) {
	n := int64(len(data))
	if n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tier[key]; ok {
		return
	}
	// Count what could be freed before evicting anything.
	free := c.max - c.size
	for i := len(c.order) - 1; i >= 0 && free < n && c.order[i] >= p; i-- {
		free += c.bytes[c.order[i]]
	}
	if free < n {
		return
	}
	for c.size+n > c.max {
		t := c.order[len(c.order)-1]
		k, v, _ := c.tiers[t].RemoveOldest()
		c.forget(k, t, int64(len(v)))
	}
	lru, ok := c.tiers[p]
	if !ok {
		lru, _ = simplelru.NewLRU[string, []byte](math.MaxInt, nil)
		c.tiers[p] = lru
		i, _ := slices.BinarySearch(c.order, p)
		c.order = slices.Insert(c.order, i, p)
	}
	lru.Add(key, data)
	c.tier[key] = p
	c.bytes[p] += n
	c.size += n
}

// forget accounts for the removal of key from tier t, dropping the tier
// when it empties. c.mu is held.
func (c *Cache) forget(key string, t int, n int64) {
	delete(c.tier, key)
	c.size -= n
	c.bytes[t] -= n
	if c.tiers[t].Len() == 0 {
		delete(c.tiers, t)
		delete(c.bytes, t)
		i, _ := slices.BinarySearch(c.order, t)
		c.order = slices.Delete(c.order, i, i+1)
	}
}

// Has answers from memory when the block is cached.
func (c *Cache) Has(ctx context.Context, k cid.Cid) (bool, error) {
	c.mu.Lock()
	_, ok := c.tier[string(k.Hash())]
	c.mu.Unlock()
	if ok {
		return true, nil
	}
	return c.bs.Has(ctx, k)
}

// GetSize answers from memory when the block is cached.
func (c *Cache) GetSize(ctx context.Context, k cid.Cid) (int, error) {
	key := string(k.Hash())
	c.mu.Lock()
	if t, ok := c.tier[key]; ok {
		data, _ := c.tiers[t].Peek(key)
		c.mu.Unlock()
		return len(data), nil
	}
	c.mu.Unlock()
	return c.bs.GetSize(ctx, k)
}

// Put stores b in the wrapped blockstore without caching it.
func (c *Cache) Put(ctx context.Context, b blocks.Block) error {
	return c.bs.Put(ctx, b)
}

// PutMany stores bs in the wrapped blockstore without caching them.
func (c *Cache) PutMany(ctx context.Context, bs []blocks.Block) error {
	return c.bs.PutMany(ctx, bs)
}

// DeleteBlock drops the cached copy, then deletes the stored block.
func (c *Cache) DeleteBlock(ctx context.Context, k cid.Cid) error {
	key := string(k.Hash())
	c.mu.Lock()
	if t, ok := c.tier[key]; ok {
		data, _ := c.tiers[t].Peek(key)
		c.tiers[t].Remove(key)
		c.forget(key, t, int64(len(data)))
	}
	c.mu.Unlock()
	return c.bs.DeleteBlock(ctx, k)
}

// AllKeysChan lists the wrapped blockstore's keys.
func (c *Cache) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	return c.bs.AllKeysChan(ctx)
}
