package node

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	ipld "github.com/ipfs/go-ipld-format"
)

// A repo left open by a dead process drops its torn blocks on the next
// Open; a cleanly closed one is not checked.
func TestTornBlocksDroppedAfterUncleanStop(t *testing.T) {
	ctx := context.Background()
	dir, r := newTestRepo(t)
	good, torn := blocks.NewBlock([]byte("kept")), blocks.NewBlock([]byte("torn by a crash"))
	for _, b := range []blocks.Block{good, torn} {
		if err := r.Blocks.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A crash: the repo is not closed, and one write never reached the disk whole.
	if _, err := os.Stat(filepath.Join(dir, dirtyFile)); err != nil {
		t.Fatalf("open repo has no in-use mark: %v", err)
	}
	tornFile := blockFile(t, dir, "torn by a crash")
	if err := os.WriteFile(tornFile, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Pinner.Close()
	r.dstore.Close()
	r.lock.Close()

	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Blocks.Has(ctx, torn.Cid()); ok {
		t.Error("the torn block survived the reopen")
	}
	if ok, _ := r.Blocks.Has(ctx, good.Cid()); !ok {
		t.Error("the whole block was dropped")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, dirtyFile)); !os.IsNotExist(err) {
		t.Errorf("closed repo kept its in-use mark: %v", err)
	}
}

// blockFile finds the flatfs file that holds content.
func blockFile(t *testing.T, dir, content string) string {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(dir, blocksDir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".data") {
			if data, _ := os.ReadFile(path); string(data) == content {
				found = path
			}
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no block file holds %q", content)
	}
	return found
}

// ReadBlock reads what the blockstore stored, into the given buffer.
func TestReadBlockMatchesGet(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t)
	defer r.Close()
	b := blocks.NewBlock([]byte("a block read from its file"))
	if err := r.Blocks.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	got, err := r.ReadBlock(ctx, b.Cid(), buf)
	if err != nil || string(got) != string(b.RawData()) || &got[0] != &buf[0] {
		t.Fatalf("ReadBlock: %q %v (in the buffer: %v)", got, err, err == nil && &got[0] == &buf[0])
	}
	if got, err := r.ReadBlock(ctx, b.Cid(), nil); err != nil || string(got) != string(b.RawData()) {
		t.Fatalf("ReadBlock without a buffer: %q %v", got, err)
	}
	missing := blocks.NewBlock([]byte("never stored")).Cid()
	if _, err := r.ReadBlock(ctx, missing, buf); !ipld.IsNotFound(err) {
		t.Fatalf("ReadBlock of a missing block: %v", err)
	}
}
