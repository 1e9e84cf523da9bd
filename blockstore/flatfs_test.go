package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/mount"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	flatfs "github.com/ipfs/go-ds-flatfs"
)

// flatValues are values of every shape the writer tells apart: empty,
// small, one direct-I/O page run exactly, whole pages plus a tail, and the
// largest block, some of them starting at an unaligned address.
func flatValues() map[ds.Key][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n, offset int) []byte {
		b := make([]byte, n+offset)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b[offset:]
	}
	return map[ds.Key][]byte{
		ds.NewKey("EMPTY"):            {},
		ds.NewKey("SMALL"):            random(100, 0),
		ds.NewKey("UNDERDIRECTMIN"):   random(directMin-1, 0),
		ds.NewKey("DIRECTMIN"):        random(directMin, 0),
		ds.NewKey("PAGESANDTAIL"):     random(1<<20+123, 0),
		ds.NewKey("UNALIGNED"):        random(256<<10, 1),
		ds.NewKey("UNALIGNEDANDTAIL"): random(300001, 7),
		ds.NewKey("MAXBLOCK"):         random(MaxBlockSize, 0),
		ds.NewKey("OVERMAXBLOCK"):     random(MaxBlockSize+pageSize, 0),
	}
}

func newFlatFS(t *testing.T) (*FlatFS, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blocks")
	if err := flatfs.Create(dir, flatfs.NextToLast(2)); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFlatFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, dir
}

// TestFlatFSWritesWhatFlatfsReads writes every kind of value, one by one
// and in batches, through the page cache and with direct I/O, and reads them back both
// through FlatFS and through a plain flatfs datastore opened on the same
// directory: the files are flatfs's, byte for byte, and no temporary file
// is left behind.
func TestFlatFSWritesWhatFlatfsReads(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                      string
		batched, direct, buffered bool
	}{
		{"one by one", false, false, false},
		{"batch", true, false, false},
		{"batch with direct I/O", true, true, false},
		{"batch with direct I/O refused", true, true, true},
	} {
		batched, direct, buffered := tc.batched, tc.direct, tc.buffered
		t.Run(tc.name, func(t *testing.T) {
			f, dir := newFlatFS(t)
			f.buffered.Store(buffered)
			want := flatValues()
			if batched {
				b, err := batchOf(f, direct)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if err := b.Put(ctx, k, v); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				for k, v := range want {
					if err := f.Put(ctx, k, v); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := f.Sync(ctx, ds.NewKey("/")); err != nil {
				t.Fatal(err)
			}
			checkValues(t, f, want)
			if tc.direct && !buffered && runtime.GOOS == "linux" && f.buffered.Load() {
				t.Error("the filesystem of the test's temporary directory refused direct I/O, so only buffered writes were tested")
			}
			if temps, _ := os.ReadDir(filepath.Join(dir, ".temp")); len(temps) > 0 {
				t.Errorf("%d temporary files left behind", len(temps))
			}
			f.Close()

			plain, err := flatfs.Open(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			checkValues(t, plain, want)
		})
	}
}

// batchOf starts a batch of f, or of its direct view.
func batchOf(f *FlatFS, direct bool) (ds.Batch, error) {
	if direct {
		return directView{f}.Batch(context.Background())
	}
	return f.Batch(context.Background())
}

// checkValues checks that d holds exactly want.
func checkValues(t *testing.T, d ds.Datastore, want map[ds.Key][]byte) {
	t.Helper()
	ctx := context.Background()
	for k, v := range want {
		got, err := d.Get(ctx, k)
		if err != nil {
			t.Errorf("get %s: %v", k, err)
		} else if !bytes.Equal(got, v) {
			t.Errorf("get %s: %d bytes, not the %d written", k, len(got), len(v))
		}
	}
	res, err := d.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("the store lists %d keys, want %d", len(all), len(want))
	}
}

// TestFlatFSReplacesAndDeletes checks a put over an existing value, a
// batch that deletes what it put, and the refusal of a key flatfs cannot
// name.
func TestFlatFSReplacesAndDeletes(t *testing.T) {
	ctx := context.Background()
	f, _ := newFlatFS(t)
	k := ds.NewKey("KEY")
	first, second := bytes.Repeat([]byte{1}, 128<<10), bytes.Repeat([]byte{2}, 100)
	for _, v := range [][]byte{first, second} {
		if err := f.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	checkValues(t, f, map[ds.Key][]byte{k: second})

	b, _ := f.Batch(ctx)
	gone := ds.NewKey("GONE")
	if err := b.Put(ctx, gone, first); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkValues(t, f, map[ds.Key][]byte{})

	if err := f.Put(ctx, ds.NewKey("lower/case"), first); err == nil {
		t.Error("a key flatfs cannot name was stored")
	}

	// The last operation on a key in a batch wins.
	b, _ = f.Batch(ctx)
	b.Delete(ctx, k)
	b.Put(ctx, k, second)
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkValues(t, f, map[ds.Key][]byte{k: second})
	if err := f.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, k); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	// flatfs's count, which these writes bypass, is never driven below zero.
	if du, err := f.DiskUsage(ctx); err != nil || du > 1<<30 {
		t.Errorf("flatfs counts %d bytes (%v)", du, err)
	}

	f.Close()
	if err := f.Put(ctx, k, second); !errors.Is(err, flatfs.ErrClosed) {
		t.Errorf("a put after Close: %v", err)
	}
	b, _ = f.Batch(ctx)
	b.Put(ctx, k, second)
	if err := b.Commit(ctx); !errors.Is(err, flatfs.ErrClosed) {
		t.Errorf("a batch after Close: %v", err)
	}
}

// TestFlatFSReadInto reads back values written one by one and in a batch
// (with direct I/O and without) into buffers that fit, short ones and none.
func TestFlatFSReadInto(t *testing.T) {
	ctx := context.Background()
	for _, buffered := range []bool{false, true} {
		f, _ := newFlatFS(t)
		f.buffered.Store(buffered)
		want := flatValues()
		b, _ := batchOf(f, true)
		for k, v := range want {
			if err := b.Put(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		cached := ds.NewKey("CACHED")
		want[cached] = bytes.Repeat([]byte("cached"), 50000)
		if err := f.Put(ctx, cached, want[cached]); err != nil {
			t.Fatal(err)
		}
		buffers := map[string][]byte{
			"fitting": make([]byte, 0, MaxBlockSize),
			"short":   make([]byte, 10),
			"none":    nil,
		}
		for k, v := range want {
			for name, buf := range buffers {
				got, err := f.ReadInto(k, buf)
				switch {
				case len(v) > MaxBlockSize:
					if err == nil {
						t.Errorf("buffered=%v: %s of %d bytes was read, over the block limit", buffered, k, len(v))
					}
				case err != nil:
					t.Errorf("buffered=%v: %s into the %s buffer: %v", buffered, k, name, err)
				case !bytes.Equal(got, v):
					t.Errorf("buffered=%v: %s into the %s buffer: %d bytes, not the %d written", buffered, k, name, len(got), len(v))
				case len(v) > 0 && cap(buf) >= len(v) && &got[0] != &buf[:1][0]:
					t.Errorf("buffered=%v: %s was not read into the %s buffer that fits it", buffered, k, name)
				}
			}
		}
		if _, err := f.ReadInto(ds.NewKey("MISSING"), nil); !errors.Is(err, ds.ErrNotFound) {
			t.Errorf("reading a missing key: %v", err)
		}
		if f.buffered.Load() != buffered {
			t.Errorf("buffered=%v: reads turned direct I/O off", buffered)
		}
	}
}

// TestFlatFSFlushesInTheBackground writes more than flushEvery bytes
// through the page cache and checks that a background flush started, and
// that direct writes start none.
func TestFlatFSFlushesInTheBackground(t *testing.T) {
	ctx := context.Background()
	value := make([]byte, 1<<20)
	for _, direct := range []bool{true, false} {
		f, _ := newFlatFS(t)
		for i := range flushEvery>>20 + 8 {
			b, _ := batchOf(f, direct)
			for j := range 2 {
				if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("K%dX%d", i, j)), value); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.flushes.Load(); direct && !f.buffered.Load() && n != 0 || !direct && n == 0 {
			t.Errorf("direct=%v: %d background flushes", direct, n)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirectStoreWritesWhatNewReads stores blocks through NewDirect, in a
// batch (past the page cache) and one by one, and reads them back through
// New over a datastore that mounts the FlatFS at /blocks, as a repo does;
// and the direct store finds what New stored.
func TestDirectStoreWritesWhatNewReads(t *testing.T) {
	ctx := context.Background()
	f, _ := newFlatFS(t)
	repo := New(mount.New([]mount.Mount{
		{Prefix: ds.NewKey("/blocks"), Datastore: f},
		{Prefix: ds.NewKey("/"), Datastore: dssync.MutexWrap(ds.NewMapDatastore())},
	}))
	direct := NewDirect(f)
	batch := []blocks.Block{block(1, 10), block(2, directMin), block(3, 1<<20+123), block(4, MaxBlockSize)}
	one := block(5, 300)
	if err := direct.PutMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := direct.Put(ctx, one); err != nil {
		t.Fatal(err)
	}
	for _, b := range append(batch, one) {
		got, err := repo.Get(ctx, b.Cid())
		if err != nil {
			t.Errorf("reading %s through New: %v", b.Cid(), err)
		} else if !bytes.Equal(got.RawData(), b.RawData()) {
			t.Errorf("reading %s through New: %d bytes, not the %d written", b.Cid(), len(got.RawData()), len(b.RawData()))
		}
	}
	if runtime.GOOS == "linux" && f.buffered.Load() {
		t.Error("the filesystem of the test's temporary directory refused direct I/O, so only buffered writes were tested")
	}
	stored := block(6, 1000)
	if err := repo.Put(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if has, err := direct.Has(ctx, stored.Cid()); err != nil || !has {
		t.Errorf("the direct store does not find a block New stored: %v %v", has, err)
	}
}
