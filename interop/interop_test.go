package interop

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	unixfsio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carbs "github.com/ipld/go-car/v2/blockstore"

	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// Our CAR imports into Kubo under the same root, Kubo exports the same
// blocks back, and Kubo reads each component as the file it is.
func TestCARImportsIntoKuboWithSameRoot(t *testing.T) {
	needKubo(t)
	needModels(t)
	a := newAccel(t)
	root := a.addStories()
	car := a.export(root)
	st := a.stat(root)

	k := startKubo(t)
	if roots := k.dagImport(car); !slices.Equal(roots, []string{root}) {
		t.Fatalf("ipfs dag import pinned %v, want [%s]", roots, root)
	}
	if pins := k.recursivePins(); !slices.Contains(pins, root) {
		t.Fatalf("kubo's recursive pins %v lack %s", pins, root)
	}
	sameDAG(t, readCAR(t, car), parseCAR(t, []byte(k.Run("dag", "export", root))))

	for _, c := range st.Components {
		want := componentBytes(t, car, c.CID)
		if int64(len(want)) != c.Size {
			t.Errorf("component %s: our CAR holds %d bytes, stat says %d", c.Name, len(want), c.Size)
		}
		if got := k.Run("cat", c.CID); got != string(want) {
			t.Errorf("ipfs cat of component %s (%s): %d bytes differ from ours (%d)", c.Name, c.CID, len(got), len(want))
		}
	}
}

// Kubo fetches a model from our daemon over bitswap and pins it.
func TestKuboFetchesFromAccel(t *testing.T) {
	needKubo(t)
	needModels(t)
	a := startAccel(t)
	root := a.addStories()
	car := a.export(root)

	k := startKubo(t)
	k.connect(a)
	k.Run("pin", "add", "--progress", root)
	if pins := k.recursivePins(); !slices.Contains(pins, root) {
		t.Fatalf("kubo's recursive pins %v lack %s", pins, root)
	}
	sameDAG(t, readCAR(t, car), parseCAR(t, []byte(k.Run("dag", "export", root))))
}

// Our daemon fetches and pins a model only Kubo holds, and runs it.
func TestAccelFetchesFromKubo(t *testing.T) {
	needKubo(t)
	needModels(t)
	scratch := newAccel(t)
	root := scratch.addStories()
	car := scratch.export(root)
	os.RemoveAll(scratch.Dir)

	k := startKubo(t)
	k.dagImport(car)
	b := startAccel(t)
	b.connect(k)
	b.Run("pin", "add", root)

	st := b.stat(root)
	if !st.Pinned || st.RemoteBlocks != 0 {
		t.Fatalf("after pin add: pinned %v, %d local and %d remote blocks", st.Pinned, st.LocalBlocks, st.RemoteBlocks)
	}
	if pins := b.Run("pin", "ls", "-q"); !strings.Contains(pins, root) {
		t.Fatalf("accel pin ls lacks %s:\n%s", root, pins)
	}
	want, err := os.ReadFile(car)
	if err != nil {
		t.Fatal(err)
	}
	again := b.export(root)
	if got, _ := os.ReadFile(again); !bytes.Equal(got, want) {
		sameDAG(t, readCAR(t, car), readCAR(t, again))
		t.Logf("the re-exported CAR holds the same blocks in another order")
	}

	dir := filepath.Join(t.TempDir(), "out")
	b.Run("get", root, "-o", dir)
	prompt := []string{"--temp", "0", "-n", "64", "Once upon a time"}
	story := b.Run(append([]string{"run", "--model", filepath.Join(dir, "model.gguf")}, prompt...)...)
	orig := b.Run(append([]string{"run", "--model", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin")}, prompt...)...)
	if story != orig {
		t.Fatalf("the fetched model tells\n%q\nthe original\n%q", story, orig)
	}
}

// carFile is a CAR's roots and blocks, in file order.
type carFile struct {
	roots  []cid.Cid
	order  []cid.Cid
	blocks map[cid.Cid][]byte
}

func readCAR(tb testing.TB, path string) carFile {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return parseCAR(tb, b)
}

func parseCAR(tb testing.TB, data []byte) carFile {
	tb.Helper()
	r, err := carv2.NewBlockReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("reading CAR: %v", err)
	}
	f := carFile{roots: r.Roots, blocks: map[cid.Cid][]byte{}}
	for {
		b, err := r.Next()
		if err == io.EOF {
			return f
		}
		if err != nil {
			tb.Fatalf("reading CAR: %v", err)
		}
		if _, dup := f.blocks[b.Cid()]; !dup {
			f.order = append(f.order, b.Cid())
			f.blocks[b.Cid()] = b.RawData()
		}
	}
}

// sameDAG checks that two CARs hold the same roots and the same blocks.
func sameDAG(tb testing.TB, ours, theirs carFile) {
	tb.Helper()
	if !slices.Equal(ours.roots, theirs.roots) {
		tb.Fatalf("roots %v, want %v", theirs.roots, ours.roots)
	}
	for c, data := range ours.blocks {
		if got, ok := theirs.blocks[c]; !ok {
			tb.Errorf("block %s is missing", c)
		} else if !bytes.Equal(got, data) {
			tb.Errorf("block %s differs", c)
		}
	}
	for c := range theirs.blocks {
		if _, ok := ours.blocks[c]; !ok {
			tb.Errorf("extra block %s", c)
		}
	}
	if !tb.Failed() && !slices.Equal(ours.order, theirs.order) {
		tb.Logf("same %d blocks, in another order", len(ours.order))
	}
}

// componentBytes reads the UnixFS file c out of a CAR.
func componentBytes(tb testing.TB, car, c string) []byte {
	tb.Helper()
	bs, err := carbs.OpenReadOnly(car)
	if err != nil {
		tb.Fatal(err)
	}
	defer bs.Close()
	ctx := context.Background()
	dag := dagstore.DAGService(bs)
	nd, err := dag.Get(ctx, cid.MustParse(c))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := unixfsio.NewDagReader(ctx, nd, dag)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
