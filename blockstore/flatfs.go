package blockstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
	"golang.org/x/sync/errgroup"
)

// FlatFS is the repo's block datastore: Kubo's flatfs — the same files in
// the same layout, which flatfs and Kubo can open — with a second view
// whose batches skip the page cache. Copying a block into fresh
// page-cache pages is most of a fetcher's CPU (≈1.2 s per 500 MiB on a
// 2-core VM, against ≈0.15 s written straight to disk), so a batch of
// more than one put committed through the direct view (NewDirect's
// blockstore) writes each value's whole 4 KiB pages with O_DIRECT where
// the filesystem allows it, and only the rest through the page cache.
// Every other write goes through the page cache: an import leaves its
// blocks there for serving, and a caller waiting for one block (a gateway
// request) gets it stored without waiting for the disk.
//
// A value is written to a temporary file and renamed into place, so a
// concurrent reader sees all of it or nothing. Nothing is fsynced one by
// one: Sync flushes the whole filesystem (the repo syncs before it
// records a pin), and every flushEvery bytes written through the page
// cache start a flush in the background, so that writeback overlaps the
// writing and a Sync after an import finds little left to do; an error a
// background flush meets is returned by the next Sync. A batch writes its
// values in parallel. flatfs's own disk-usage count (flatfs.DiskUsage,
// which the node does not read) leaves FlatFS's writes and deletes out.
type FlatFS struct {
	*flatfs.Datastore
	dir   string
	shard flatfs.ShardFunc
	// dirFD is the directory every sync goes through: the kernel reports
	// a writeback error once per open file, so one file sees them all.
	dirFD *os.File
	// buffered is set once the filesystem refuses O_DIRECT.
	buffered atomic.Bool
	closed   atomic.Bool
	temps    atomic.Uint64
	// dirty counts bytes written through the page cache toward the next
	// background flush; flushing is held while one runs, and flushErr
	// keeps what it failed with for the next Sync.
	dirty    atomic.Int64
	flushing sync.Mutex
	flushErr error
	flushes  atomic.Int64 // background flushes started
}

var _ ds.Batching = (*FlatFS)(nil)

// writers is how many files a batch writes at once: enough to keep a disk
// queue busy with direct writes, which each wait for the device.
const writers = 8

// OpenFlatFS opens the flatfs datastore in dir (made by flatfs.Create).
func OpenFlatFS(dir string) (*FlatFS, error) {
	d, err := flatfs.Open(dir, false)
	if err != nil {
		return nil, err
	}
	shard, err := flatfs.ReadShardFunc(dir)
	if err != nil {
		d.Close()
		return nil, err
	}
	dirFD, err := os.Open(dir)
	if err != nil {
		d.Close()
		return nil, err
	}
	return &FlatFS{Datastore: d, dir: dir, shard: shard.Func(), dirFD: dirFD}, nil
}

// Put stores value under key, replacing what was there.
func (f *FlatFS) Put(ctx context.Context, key ds.Key, value []byte) error {
	if f.closed.Load() {
		return flatfs.ErrClosed
	}
	return f.put(ctx, key, value, false)
}

// put writes value under key, or has flatfs refuse a key it cannot name.
func (f *FlatFS) put(ctx context.Context, key ds.Key, value []byte, direct bool) error {
	if !validKey(key) {
		return f.Datastore.Put(ctx, key, value) // flatfs names the error
	}
	return f.write(key, value, direct)
}

// Delete removes key's value, if any.
func (f *FlatFS) Delete(_ context.Context, key ds.Key) error {
	if f.closed.Load() {
		return flatfs.ErrClosed
	}
	if !validKey(key) {
		return nil
	}
	_, path := f.file(key)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("flatfs: deleting %s: %w", key, err)
	}
	return nil
}

// flushEvery is how many bytes written through the page cache start a
// background flush. (Direct writes do not count: a flush would hold them
// up while the disk empties its cache.)
const flushEvery = 64 << 20

// wroteDirty counts n bytes written through the page cache and starts a
// background flush every flushEvery of them, one at a time.
func (f *FlatFS) wroteDirty(n int) {
	if f.dirty.Add(int64(n)) < flushEvery || !f.flushing.TryLock() {
		return
	}
	f.dirty.Store(0)
	f.flushes.Add(1)
	go func() {
		defer f.flushing.Unlock()
		if err := syncFS(f.dirFD); err != nil && f.flushErr == nil {
			f.flushErr = err
		}
	}()
}

// Close waits for a background flush, then closes the datastore; later
// writes fail with flatfs.ErrClosed.
func (f *FlatFS) Close() error {
	f.closed.Store(true)
	f.flushing.Lock()
	defer f.flushing.Unlock()
	err := f.Datastore.Close()
	f.dirFD.Close()
	return err
}

// Sync makes every value written so far durable (whatever the prefix:
// it flushes the filesystem that holds the store), or returns the error a
// flush met since the last Sync.
func (f *FlatFS) Sync(context.Context, ds.Key) error {
	f.flushing.Lock()
	defer f.flushing.Unlock()
	err := f.flushErr
	f.flushErr = nil
	if err == nil {
		err = syncFS(f.dirFD)
	}
	if err != nil {
		return fmt.Errorf("flatfs: syncing %s: %w", f.dir, err)
	}
	return nil
}

// Batch collects puts and deletes; Commit writes the puts in parallel
// through the page cache, then applies the deletes.
func (f *FlatFS) Batch(context.Context) (ds.Batch, error) {
	return f.batch(false), nil
}

// directView is a FlatFS whose batches of more than one put are written
// past the page cache. It shares the FlatFS's files, syncs and Close.
type directView struct{ *FlatFS }

var _ ds.Batching = directView{}

// Batch is FlatFS.Batch with direct writes.
func (v directView) Batch(context.Context) (ds.Batch, error) {
	return v.batch(true), nil
}

func (f *FlatFS) batch(direct bool) *flatBatch {
	return &flatBatch{fs: f, direct: direct, puts: map[ds.Key][]byte{}, deletes: map[ds.Key]bool{}}
}

type flatBatch struct {
	fs      *FlatFS
	direct  bool // write past the page cache
	puts    map[ds.Key][]byte
	deletes map[ds.Key]bool
}

// Put and Delete record the last operation on each key; Commit applies it.
func (b *flatBatch) Put(_ context.Context, key ds.Key, value []byte) error {
	delete(b.deletes, key)
	b.puts[key] = value
	return nil
}

func (b *flatBatch) Delete(_ context.Context, key ds.Key) error {
	delete(b.puts, key)
	b.deletes[key] = true
	return nil
}

func (b *flatBatch) Commit(ctx context.Context) error {
	if b.fs.closed.Load() {
		return flatfs.ErrClosed
	}
	if err := b.write(ctx); err != nil {
		return err
	}
	for key := range b.deletes {
		if err := b.fs.Delete(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// write writes the batch's puts, writers at a time.
func (b *flatBatch) write(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	direct := b.direct && len(b.puts) > 1
	for key, value := range b.puts {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return b.fs.put(ctx, key, value, direct)
		})
	}
	return g.Wait()
}

// file is where flatfs keeps key's value, and its directory.
func (f *FlatFS) file(key ds.Key) (dir, path string) {
	name := key.String()[1:]
	dir = filepath.Join(f.dir, f.shard(name))
	return dir, filepath.Join(dir, name+".data")
}

// write puts value in a temporary file, with direct I/O if asked, and
// renames it to key's file.
func (f *FlatFS) write(key ds.Key, value []byte, direct bool) error {
	dir, path := f.file(key)
	tmp := filepath.Join(f.dir, ".temp", "put-"+strconv.FormatUint(f.temps.Add(1), 36))
	if err := f.writeFile(tmp, value, direct); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flatfs: writing %s: %w", key, err)
	}
	if !direct || f.buffered.Load() {
		f.wroteDirty(len(value))
	}
	err := os.Rename(tmp, path)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.Mkdir(dir, 0o755); err == nil || errors.Is(err, os.ErrExist) {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flatfs: storing %s: %w", key, err)
	}
	return nil
}

// writeFile creates path holding value. With direct, its whole pages go
// straight to the disk when value is large enough to be worth it; the
// rest (and everything, on filesystems without direct I/O) goes through
// the page cache.
func (f *FlatFS) writeFile(path string, value []byte, direct bool) error {
	whole := len(value) &^ (pageSize - 1)
	if !direct || whole < directMin || len(value) > MaxBlockSize || f.buffered.Load() {
		return os.WriteFile(path, value, 0o644)
	}
	err := writeDirect(path, value, whole)
	if errors.Is(err, errNoDirectIO) {
		f.buffered.Store(true)
		return os.WriteFile(path, value, 0o644)
	}
	return err
}

// writeDirect creates path holding value, its first whole bytes (a
// multiple of pageSize) written with direct I/O from an aligned copy
// unless value is aligned itself. It returns errNoDirectIO when the
// filesystem refuses direct I/O.
func writeDirect(path string, value []byte, whole int) error {
	file, err := openDirect(path)
	if err != nil {
		return err
	}
	defer file.Close()
	pages := value[:whole]
	if !aligned(pages) {
		buf := alignedBuffers.Get().(*[]byte)
		defer alignedBuffers.Put(buf)
		pages = (*buf)[:copy(*buf, pages)]
	}
	if _, err := file.WriteAt(pages, 0); err != nil {
		return directError(err)
	}
	if whole < len(value) {
		if err := stopDirect(file); err != nil {
			return err
		}
		if _, err := file.WriteAt(value[whole:], int64(whole)); err != nil {
			return err
		}
	}
	return file.Close()
}

// ReadInto reads key's value into buf, or into fresh memory when buf is
// too small, and returns it; ds.ErrNotFound when there is none. Values
// over MaxBlockSize are refused.
func (f *FlatFS) ReadInto(key ds.Key, buf []byte) ([]byte, error) {
	if !validKey(key) {
		return nil, ds.ErrNotFound
	}
	_, path := f.file(key)
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ds.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	size := int(st.Size())
	if size > MaxBlockSize {
		return nil, fmt.Errorf("flatfs: %s holds %d bytes, over the %d-byte block limit", key, size, MaxBlockSize)
	}
	if size > cap(buf) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if n, err := file.ReadAt(buf, 0); n < size {
		return nil, fmt.Errorf("flatfs: reading %s: %d of %d bytes: %w", key, n, size, err)
	}
	return buf, nil
}

// pageSize is the alignment of direct I/O: the offsets, lengths and
// memory addresses of its writes are multiples of it.
const pageSize = 4096

// directMin is the smallest value written with direct I/O; smaller ones
// (manifests, UnixFS nodes, the ends of files) go through the page cache.
const directMin = 64 << 10

// alignedBuffers hold page-aligned copies of blocks for direct writes.
var alignedBuffers = sync.Pool{New: func() any {
	b := make([]byte, MaxBlockSize+pageSize)
	off := pageSize - int(addr(b)%pageSize)
	b = b[off : off+MaxBlockSize]
	return &b
}}

func aligned(b []byte) bool { return addr(b)%pageSize == 0 }

// addr is the address of b's first byte.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// validKey reports whether flatfs can store key: /[0-9A-Z+-_=]+.
func validKey(key ds.Key) bool {
	s := key.String()
	if len(s) < 2 || s[0] != '/' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || c == '+' || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}
