// Package node is the accel node: its repo (configuration, identity,
// blocks, pins) and the operations on it — add, pin, gc, stat, CAR export
// and import — and the daemon (host, exchange, routing, HTTP APIs) that
// builds on Repo.
//
// Storage follows Kubo's layout: blocks live in a flatfs datastore
// (one file per block, written to a temporary file and renamed into place,
// not fsynced one by one, and the batches a pin add fetches past the page
// cache: see blockstore.FlatFS and Repo.Bulk) and everything else — pins,
// last-use times, block priorities — in a leveldb datastore with
// synchronous writes, both mounted into one datastore. Before a pin is
// recorded the blocks' filesystem is synced, so a pinned DAG is always
// whole on disk; a process killed at any moment leaves a consistent pin
// set, and the next Open after such a stop deletes any block a lost write
// tore. Blocks stored but never pinned are what gc removes. Blocks are
// read through a hot cache in memory that keeps the blocks of a model's
// critical path (tokenizer, embed, head) over its later layers, by the
// priorities recorded when the model was pinned.
package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/mount"
	flatfs "github.com/ipfs/go-ds-flatfs"
	leveldb "github.com/ipfs/go-ds-leveldb"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// EnvPath names the environment variable that overrides the repo path.
const EnvPath = "ACCEL_PATH"

// Directories of the repo's datastores.
const (
	blocksDir    = "blocks"
	datastoreDir = "datastore"
)

// ErrNoRepo is returned when the path holds no repo.
var ErrNoRepo = errors.New("no accel repo: run `accel init` first")

// ErrRepoExists is returned by Init over an existing repo.
var ErrRepoExists = errors.New("an accel repo already exists")

// DefaultPath is $ACCEL_PATH, else ~/.accel.
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the repo (set %s): %w", EnvPath, err)
	}
	return filepath.Join(home, ".accel"), nil
}

// Repo is an open repo. It holds the repo lock until Close. Its stores
// are composed once, at open, and every user of the repo — the CLI and the
// daemon alike — goes through them:
//
//	Fetched ──▶ Blocks (hot cache) ──▶ blocks on disk (size limit)
//	Bulk ───────────────────────────▶ the same blocks, written past the page cache
type Repo struct {
	Path   string
	Config *Config // nil for a repo in memory
	// Blocks is the repo's blockstore: the blocks on disk (no hash on
	// read, blocks over blockstore.MaxBlockSize refused) read through a
	// hot cache of Config.Datastore.HotCache bytes, which keeps each block
	// under the priority recorded when its model was pinned.
	Blocks *blockstore.Cache
	// Fetched is Blocks writing behind: a Put returns once the block is
	// held in memory, and the write follows. It stores what the network
	// fetched for a waiting caller; Close waits for its writes.
	Fetched *blockstore.WriteBehind
	// Bulk stores the same blocks as Blocks, its batches written past the
	// page cache: for a fetch of whole models, which reads them back
	// later, if at all. (In memory, it is Blocks' store.)
	Bulk blockstore.Blockstore
	// DAG is an offline DAG service over Blocks: a missing block is an
	// ipld.ErrNotFound.
	DAG ipld.DAGService
	// Pinner keeps the pins in the datastore; it checks that a DAG is
	// whole by reading the blocks on disk, past the hot cache.
	Pinner pin.Pinner

	dstore ds.Batching
	stored blockstore.Blockstore // Blocks without the hot cache: the blocks on disk
	flat   *blockstore.FlatFS    // the blocks' datastore, in dstore; nil in memory
	lock   *os.File
	now    func() time.Time // the clock of last-use records; nil: time.Now

	gcLock gcLock
	inUse  bool // Open marked the repo in use (dirtyFile); Close unmarks it
}

// Init creates a repo at dir with the given profile and returns its
// configuration. It refuses a dir that already holds a repo.
func Init(dir, profile string) (*Config, error) {
	id, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	cfg, err := NewConfig(profile, id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrRepoExists)
	}
	// The datastores first, the config last: a repo exists once its
	// config does, and an init cut short is simply run again.
	if err := flatfs.Create(filepath.Join(dir, blocksDir), flatfs.NextToLast(2)); err != nil && !errors.Is(err, flatfs.ErrDatastoreExists) {
		return nil, fmt.Errorf("creating the block store: %w", err)
	}
	ldb, err := leveldb.NewDatastore(filepath.Join(dir, datastoreDir), nil)
	if err != nil {
		return nil, fmt.Errorf("creating the datastore: %w", err)
	}
	if err := ldb.Close(); err != nil {
		return nil, err
	}
	if err := writeConfig(dir, cfg); err != nil {
		return nil, fmt.Errorf("writing the config: %w", err)
	}
	return cfg, nil
}

// Open opens the repo at dir, taking its lock.
func Open(ctx context.Context, dir string) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoRepo)
	}
	l, err := lock(dir)
	if err != nil {
		return nil, err
	}
	r, err := open(ctx, dir)
	if err != nil {
		l.Close()
		return nil, err
	}
	r.lock = l
	if err := r.markInUse(ctx); err != nil {
		r.Close() // keeps the mark: the next Open checks again
		return nil, err
	}
	r.inUse = true
	return r, nil
}

func open(ctx context.Context, dir string) (*Repo, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	flat, err := blockstore.OpenFlatFS(filepath.Join(dir, blocksDir))
	if err != nil {
		return nil, fmt.Errorf("opening the block store: %w", err)
	}
	ldb, err := leveldb.NewDatastore(filepath.Join(dir, datastoreDir), nil)
	if err != nil {
		flat.Close()
		return nil, fmt.Errorf("opening the datastore: %w", err)
	}
	d := mount.New([]mount.Mount{
		{Prefix: ds.NewKey("/" + blocksDir), Datastore: flat},
		{Prefix: ds.NewKey("/"), Datastore: ldb},
	})
	r, err := newRepo(ctx, d, flat, cfg.Datastore.HotCache)
	if err != nil {
		d.Close()
		return nil, err
	}
	r.Path, r.Config = dir, cfg
	return r, nil
}

// maxWriteBehind bounds the bytes of fetched blocks waiting to be written.
const maxWriteBehind = 64 << 20

// newRepo composes a repo's stores over d (which it owns from then on):
// flat is the datastore d mounts at /blocks (nil for a repo in memory,
// whose blocks d holds itself), hotCache the byte budget of the cache.
func newRepo(ctx context.Context, d ds.Batching, flat *blockstore.FlatFS, hotCache int64) (*Repo, error) {
	stored := blockstore.Limit(blockstore.New(d), blockstore.MaxBlockSize)
	r := &Repo{dstore: d, stored: stored, flat: flat, Bulk: stored, gcLock: newGCLock()}
	if flat != nil {
		r.Bulk = blockstore.Limit(blockstore.NewDirect(flat), blockstore.MaxBlockSize)
	}
	r.Blocks = blockstore.NewCache(stored, hotCache, r.priority)
	r.Fetched = blockstore.NewWriteBehind(r.Blocks, maxWriteBehind, func(err error) { log.Printf("storing a fetched block: %v", err) })
	r.DAG = dagstore.DAGService(r.Blocks)
	// The pinner reads past the cache: checking a DAG is whole before
	// pinning it does not make its blocks hot.
	p, err := dspinner.New(ctx, d, pinDAG{DAGService: dagstore.DAGService(stored), blocks: stored})
	if err != nil {
		return nil, fmt.Errorf("loading pins: %w", err)
	}
	r.Pinner = p
	return r, nil
}

// Close waits for the writes behind, flushes and closes the stores and
// releases the lock.
func (r *Repo) Close() error {
	r.Fetched.Wait()
	err := r.Pinner.Close()
	if e := r.dstore.Close(); err == nil {
		err = e
	}
	if err == nil && r.inUse {
		err = r.markClosed()
	}
	if r.lock != nil {
		if e := r.lock.Close(); err == nil {
			err = e
		}
	}
	return err
}
