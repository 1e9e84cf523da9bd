package blockstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
)

func newStore() Blockstore {
	return New(dssync.MutexWrap(ds.NewMapDatastore()))
}

func block(n, size int) blocks.Block {
	data := make([]byte, size)
	copy(data, fmt.Sprintf("block %d", n))
	return blocks.NewBlock(data)
}

func TestCacheBoundedAndWeighted(t *testing.T) {
	ctx := context.Background()
	bs := newStore()
	prio := map[cid.Cid]int{}
	c := NewCache(bs, 1000, func(_ context.Context, k cid.Cid) int {
		if p, ok := prio[k]; ok {
			return p
		}
		return DefaultPriority
	})
	var hot, cold []blocks.Block
	for i := range 4 {
		hot = append(hot, block(i, 100))
		cold = append(cold, block(100+i, 100))
	}
	for _, b := range append(hot, cold...) {
		if err := c.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Blocks != 0 {
		t.Fatalf("Put cached blocks: %+v", st)
	}
	for _, b := range hot {
		prio[b.Cid()] = 0
		if _, err := c.Get(ctx, b.Cid()); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range cold {
		prio[b.Cid()] = 10
		if _, err := c.Get(ctx, b.Cid()); err != nil {
			t.Fatal(err)
		}
	}
	// 800 bytes cached; a 300-byte priority-5 block evicts the oldest cold one.
	mid := block(50, 300)
	c.Put(ctx, mid)
	prio[mid.Cid()] = 5
	if _, err := c.Get(ctx, mid.Cid()); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Bytes != 1000 || st.Blocks != 8 || st.Misses != 9 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, b := range hot {
		got, err := c.Get(ctx, b.Cid())
		if err != nil || string(got.RawData()) != string(b.RawData()) {
			t.Fatal(err)
		}
	}
	c.Get(ctx, cold[1].Cid())
	if st := c.Stats(); st.Hits != 5 {
		t.Fatalf("hot or recent blocks were evicted: %+v", st)
	}
	c.Get(ctx, cold[0].Cid())
	if st := c.Stats(); st.Hits != 5 || st.Misses != 10 {
		t.Fatalf("the oldest cold block was not the one evicted: %+v", st)
	}
	// A block less important than everything cached is not admitted.
	low := block(60, 500)
	c.Put(ctx, low)
	prio[low.Cid()] = 99
	c.Get(ctx, low.Cid())
	if st := c.Stats(); st.Blocks != 8 {
		t.Fatalf("a low-priority block evicted higher ones: %+v", st)
	}
	// Too large for the whole budget: never cached.
	huge := block(70, 2000)
	c.Put(ctx, huge)
	prio[huge.Cid()] = 0
	c.Get(ctx, huge.Cid())
	if st := c.Stats(); st.Bytes > 1000 {
		t.Fatalf("over budget: %+v", st)
	}
	// Delete drops the cached copy.
	if err := c.DeleteBlock(ctx, hot[0].Cid()); err != nil {
		t.Fatal(err)
	}
	if has, _ := c.Has(ctx, hot[0].Cid()); has {
		t.Fatal("deleted block still there")
	}
	if _, err := c.Get(ctx, hot[0].Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("Get of a deleted block: %v", err)
	}
	// The same multihash under another CID is the same cached block.
	v0 := cid.NewCidV1(cid.DagProtobuf, hot[1].Cid().Hash())
	if b, err := c.Get(ctx, v0); err != nil || !b.Cid().Equals(v0) {
		t.Fatalf("Get by another codec: %v %v", b, err)
	}
	if n, err := c.GetSize(ctx, hot[1].Cid()); err != nil || n != 100 {
		t.Fatalf("GetSize %d %v", n, err)
	}
}

func TestLimit(t *testing.T) {
	ctx := context.Background()
	bs := Limit(newStore(), 0)
	if err := bs.Put(ctx, block(1, MaxBlockSize)); err != nil {
		t.Fatal(err)
	}
	big := block(2, MaxBlockSize+1)
	if err := bs.Put(ctx, big); !errors.Is(err, ErrBlockTooLarge) {
		t.Fatalf("Put of an oversized block: %v", err)
	}
	if err := bs.PutMany(ctx, []blocks.Block{block(3, 10), big}); !errors.Is(err, ErrBlockTooLarge) {
		t.Fatalf("PutMany with an oversized block: %v", err)
	}
	if has, _ := bs.Has(ctx, block(3, 10).Cid()); has {
		t.Fatal("PutMany stored part of a refused batch")
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	bs := New(d)
	good := block(1, 10)
	bs.Put(ctx, good)
	if err := Verify(ctx, bs, good.Cid()); err != nil {
		t.Fatal(err)
	}
	// Corrupt the stored bytes behind the blockstore's back.
	key := bstore.BlockPrefix.Child(dshelp.MultihashToDsKey(good.Cid().Hash()))
	if _, err := d.Get(ctx, key); err != nil {
		t.Fatal(err)
	}
	d.Put(ctx, key, []byte("tampered"))
	if err := Verify(ctx, bs, good.Cid()); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verify of a tampered block: %v", err)
	}
	if _, err := Verifying(bs).Get(ctx, good.Cid()); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verifying Get of a tampered block: %v", err)
	}
	if _, err := bs.Get(ctx, good.Cid()); err != nil {
		t.Fatalf("plain Get hashes on read: %v", err)
	}
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	bs := newStore()
	live := Live{}
	for i := range 10 {
		b := block(i, 100+i)
		bs.Put(ctx, b)
		if i%2 == 0 {
			live.Add(b.Cid())
		}
	}
	res, err := Collect(ctx, bs, live)
	if err != nil || res.Blocks != 5 || res.Bytes != 101+103+105+107+109 {
		t.Fatalf("Collect: %+v %v", res, err)
	}
	for i := range 10 {
		has, _ := bs.Has(ctx, block(i, 100+i).Cid())
		if has != (i%2 == 0) {
			t.Errorf("block %d: has %v", i, has)
		}
	}
}
