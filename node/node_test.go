package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader"
)

const models = "../../shared/models"

func memRepo(t testing.TB) *Repo {
	t.Helper()
	r, err := newRepo(context.Background(), dssync.MutexWrap(ds.NewMapDatastore()), nil, DefaultHotCache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestInitOpenLock(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := Open(ctx, dir); !errors.Is(err, ErrNoRepo) {
		t.Fatalf("Open before Init: %v", err)
	}
	cfg, err := Init(dir, ProfileTest)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cfg.Identity.Key(); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, ProfileTest); !errors.Is(err, ErrRepoExists) {
		t.Fatalf("Init twice: %v", err)
	}
	if _, err := Init(filepath.Join(t.TempDir(), "x"), "fast"); err == nil {
		t.Fatal("Init with an unknown profile")
	}
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	if r.Config.Identity.PeerID != cfg.Identity.PeerID {
		t.Fatal("config changed")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	r.Close()
}

func TestAddPinGCExportImport(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K-f32.gguf")); err != nil {
		t.Skip("test models not present")
	}
	ctx := context.Background()
	_, r := newTestRepo(t)
	defer r.Close()
	root, m, err := r.Add(ctx, loader.Source{Path: filepath.Join(models, "stories260K-f32.gguf")}, "", loader.ImportOptions{ChunkSize: loader.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	pins, err := r.Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].CID.Equals(root) || pins[0].Name != "stories260K-f32.gguf" {
		t.Fatalf("pins %v %v", pins, err)
	}
	st, err := r.Stat(ctx, root)
	if err != nil || !st.Pinned || st.RemoteBlocks != 0 || len(st.Components) != len(m.Components) {
		t.Fatalf("stat %+v %v", st, err)
	}
	if err := r.Pin(ctx, root, "again"); err != nil {
		t.Fatal(err)
	}
	if pins, _ := r.Pins(ctx); len(pins) != 1 || pins[0].Name != "stories260K-f32.gguf" {
		t.Fatalf("pinning again changed the pins: %v", pins)
	}
	// A repo holding only the manifest: every component is remote.
	part := memRepo(t)
	mb, _ := r.Blocks.Get(ctx, root)
	part.Blocks.Put(ctx, mb)
	pst, err := part.Stat(ctx, root)
	if err != nil || pst.LocalBlocks != 1 || pst.RemoteBlocks != len(m.Components) || pst.Pinned {
		t.Fatalf("stat of a manifest alone: %+v %v", pst, err)
	}
	if err := part.Pin(ctx, root, ""); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("pin of a partial model: %v", err)
	}
	// Every block but one raw leaf: the pin checks that leaves are stored
	// (without reading them) and refuses.
	var hole cid.Cid
	for _, c := range m.Components {
		if c.CID.Type() == cid.Raw {
			hole = c.CID
			break
		}
	}
	if !hole.Defined() {
		t.Fatal("no component is a single raw block")
	}
	holed := memRepo(t)
	keys, _ := r.Blocks.AllKeysChan(ctx)
	for k := range keys {
		if !bytes.Equal(k.Hash(), hole.Hash()) {
			b, _ := r.Blocks.Get(ctx, k)
			holed.Blocks.Put(ctx, b)
		}
	}
	if err := holed.Pin(ctx, root, ""); !errors.Is(err, ErrNotLocal) || !strings.Contains(err.Error(), hole.String()) {
		t.Fatalf("pin of a model missing leaf %s: %v", hole, err)
	}
	var car bytes.Buffer
	if err := r.ExportCAR(ctx, root, &car); err != nil {
		t.Fatal(err)
	}
	// Garbage next to the model: gc takes it, and nothing of the model.
	junk := blocks.NewBlock([]byte("unpinned"))
	r.Blocks.Put(ctx, junk)
	res, err := r.GC(ctx)
	if err != nil || res.Blocks != 1 || res.Bytes != int64(len("unpinned")) {
		t.Fatalf("gc %+v %v", res, err)
	}
	if _, err := r.Model(ctx, root); err != nil {
		t.Fatal(err)
	}

	mem := memRepo(t)
	roots, err := mem.ImportCAR(ctx, bytes.NewReader(car.Bytes()))
	if err != nil || len(roots) != 1 || !roots[0].Equals(root) {
		t.Fatalf("import: %v %v", roots, err)
	}
	for _, c := range m.Components {
		if p := mem.priority(ctx, c.CID); p != c.Priority {
			t.Errorf("after the CAR import, %s has priority %d, want %d", c.Name, p, c.Priority)
		}
	}
	var again bytes.Buffer
	if err := mem.ExportCAR(ctx, root, &again); err != nil || !bytes.Equal(again.Bytes(), car.Bytes()) {
		t.Fatalf("re-export differs (%v)", err)
	}

	if err := r.Unpin(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := r.Unpin(ctx, root); err == nil {
		t.Fatal("unpinned twice")
	}
	if res, err := r.GC(ctx); err != nil || res.Blocks != st.LocalBlocks {
		t.Fatalf("gc after unpin %+v %v, want %d blocks", res, err, st.LocalBlocks)
	}
	if err := r.Pin(ctx, root, ""); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("pin of a collected model: %v", err)
	}
}

// seedCAR is a small CAR: a dag-pb node over two raw blocks.
func seedCAR(t testing.TB) []byte {
	ctx := context.Background()
	r := memRepo(t)
	a := merkledag.NewRawNode([]byte("leaf a"))
	b := merkledag.NewRawNode([]byte("leaf b"))
	n := merkledag.NodeWithData([]byte{8, 2})
	n.AddNodeLink("a", a)
	n.AddNodeLink("b", b)
	r.DAG.AddMany(ctx, []ipld.Node{a, b, n})
	var buf bytes.Buffer
	if err := r.ExportCAR(ctx, n.Cid(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzImportCAR(f *testing.F) {
	seed := seedCAR(f)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	bad := bytes.Clone(seed)
	bad[len(bad)-2] ^= 1
	f.Add(bad)
	f.Add(seed[:20])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		r := memRepo(t)
		roots, err := r.ImportCAR(ctx, bytes.NewReader(data))
		pins, perr := r.Pins(ctx)
		if perr != nil {
			t.Fatal(perr)
		}
		if err != nil {
			if len(pins) != 0 {
				t.Fatalf("a rejected CAR (%v) pinned %v", err, pins)
			}
			return
		}
		for _, root := range roots {
			if _, pinned, _ := r.Pinner.IsPinned(ctx, root); !pinned {
				t.Fatalf("root %s not pinned", root)
			}
			if err := r.ExportCAR(ctx, root, new(bytes.Buffer)); err != nil {
				t.Fatalf("export of imported root %s: %v", root, err)
			}
		}
		if _, err := r.GC(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestImportCAROversizedBlock(t *testing.T) {
	ctx := context.Background()
	big := blocks.NewBlock(bytes.Repeat([]byte{7}, blockstore.MaxBlockSize+1))
	var buf bytes.Buffer
	w, err := storage.NewWritable(struct{ io.Writer }{&buf}, []cid.Cid{big.Cid()}, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, big.Cid().KeyString(), big.RawData()); err != nil {
		t.Fatal(err)
	}
	r := memRepo(t)
	if _, err := r.ImportCAR(ctx, &buf); !errors.Is(err, ErrMalformedCAR) || !strings.Contains(err.Error(), "over the") {
		t.Fatalf("import of an oversized block: %v", err)
	}
	if has, _ := r.Blocks.Has(ctx, big.Cid()); has {
		t.Fatal("oversized block stored")
	}
	if err := r.Blocks.Put(ctx, big); !errors.Is(err, blockstore.ErrBlockTooLarge) {
		t.Fatalf("Put of an oversized block: %v", err)
	}
}

// newTestRepo initializes a test-profile repo in a temp dir and opens it.
func newTestRepo(t *testing.T) (string, *Repo) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(dir, ProfileTest); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, r
}
