package loader

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/boxo/ipld/unixfs/importer/trickle"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// readRange reads length bytes from offset of the file at root through readFile.
func readRange(t *testing.T, get BlockGetter, root cid.Cid, size, offset, length int64) ([]byte, error) {
	t.Helper()
	buf := make([]byte, length)
	err := readFile(context.Background(), get, root, size, offset, buf)
	return buf, err
}

// readFile reads the files of every layout boxo's importers write, whole
// and by ranges: raw leaves or dag-pb leaves holding data (Kubo's CIDv0
// default), balanced or trickle DAGs, deep trees and a single block.
func TestReadFileLayouts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100_003)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	cidV0 := merkledag.V0CidPrefix()
	for _, c := range []struct {
		name    string
		size    int
		params  helpers.DagBuilderParams
		trickle bool
	}{
		{"raw leaves, balanced", len(data), helpers.DagBuilderParams{Maxlinks: 4, RawLeaves: true, CidBuilder: FilePrefix}, false},
		{"dag-pb leaves, CIDv0", len(data), helpers.DagBuilderParams{Maxlinks: 3, CidBuilder: cidV0}, false},
		{"trickle", len(data), helpers.DagBuilderParams{Maxlinks: 3, RawLeaves: true, CidBuilder: FilePrefix}, true},
		{"one raw leaf", 900, helpers.DagBuilderParams{Maxlinks: 4, RawLeaves: true, CidBuilder: FilePrefix}, false},
		{"one dag-pb leaf", 900, helpers.DagBuilderParams{Maxlinks: 4, CidBuilder: cidV0}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bs := newStore()
			c.params.Dagserv = dagstore.DAGService(bs)
			db, err := c.params.New(chunker.NewSizeSplitter(bytes.NewReader(data[:c.size]), 1000))
			if err != nil {
				t.Fatal(err)
			}
			layout := balanced.Layout
			if c.trickle {
				layout = trickle.Layout
			}
			nd, err := layout(db)
			if err != nil {
				t.Fatal(err)
			}
			want := data[:c.size]
			got, err := readRange(t, bs, nd.Cid(), int64(c.size), 0, int64(c.size))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("whole file: %v, equal %v", err, bytes.Equal(got, want))
			}
			for range 50 {
				off := rng.IntN(c.size)
				n := rng.IntN(c.size - off + 1)
				got, err := readRange(t, bs, nd.Cid(), int64(c.size), int64(off), int64(n))
				if err != nil || !bytes.Equal(got, want[off:off+n]) {
					t.Fatalf("[%d, +%d): %v, equal %v", off, n, err, bytes.Equal(got, want[off:off+n]))
				}
			}
			if _, err := readRange(t, bs, nd.Cid(), int64(c.size)+1, 0, 10); err == nil || !strings.Contains(err.Error(), "expected") {
				t.Errorf("a file read as one byte longer than it is: %v", err)
			}
		})
	}
}

// putBlock stores b in bs and returns its CID.
func putBlock(t *testing.T, bs blockstore.Blockstore, b blocks.Block) cid.Cid {
	t.Helper()
	if err := bs.Put(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b.Cid()
}

// readFile refuses DAGs that are not files or whose sizes disagree, and
// says which block was wrong.
func TestReadFileRejects(t *testing.T) {
	bs := newStore()
	put := func(b blocks.Block) cid.Cid { return putBlock(t, bs, b) }
	leafCID, _ := FilePrefix.WithCodec(cid.Raw).Sum([]byte("0123456789"))
	rawLeaf, _ := blocks.NewBlockWithCid([]byte("0123456789"), leafCID)
	put(rawLeaf)
	node := func(fsn *unixfs.FSNode, links ...cid.Cid) cid.Cid {
		data, err := fsn.GetBytes()
		if err != nil {
			t.Fatal(err)
		}
		pn := merkledag.NodeWithData(data)
		pn.SetCidBuilder(FilePrefix)
		for _, l := range links {
			pn.AddRawLink("", &ipld.Link{Cid: l})
		}
		return put(pn)
	}
	file := func(sizes ...uint64) *unixfs.FSNode {
		fsn := unixfs.NewFSNode(unixfs.TFile)
		for _, s := range sizes {
			fsn.AddBlockSize(s)
		}
		return fsn
	}
	noData := merkledag.NodeWithData(nil)
	noData.SetCidBuilder(FilePrefix)
	missing, _ := FilePrefix.WithCodec(cid.Raw).Sum([]byte("absent"))
	cborCID, _ := ManifestPrefix.Sum([]byte{0xa0})
	cbor, _ := blocks.NewBlockWithCid([]byte{0xa0}, cborCID)
	for _, c := range []struct {
		name string
		root cid.Cid
		size int64
		err  string
	}{
		{"a blocksize larger than its leaf", node(file(11), rawLeaf.Cid()), 11, "holds 10 bytes of the file where 11 are expected"},
		{"a blocksize per link missing", node(file(10), rawLeaf.Cid(), rawLeaf.Cid()), 20, "2 links and 1 blocksizes"},
		{"a directory", node(unixfs.NewFSNode(unixfs.TDirectory), rawLeaf.Cid()), 10, "UnixFS Directory"},
		{"dag-pb without UnixFS data", put(noData), 1, "without UnixFS data"},
		{"a missing child", node(file(10), missing), 10, "could not find"},
		{"a dag-cbor block", put(cbor), 1, "neither raw nor dag-pb"},
	} {
		if _, err := readRange(t, bs, c.root, c.size, 0, c.size); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.err)
		}
	}
}

// DecodeFileNode never panics on bytes a peer sends, and what it accepts
// holds a blocksize per child.
func FuzzDecodeFileNode(f *testing.F) {
	fsn := unixfs.NewFSNode(unixfs.TFile)
	fsn.SetData([]byte("data"))
	fsn.AddBlockSize(10)
	data, _ := fsn.GetBytes()
	pn := merkledag.NodeWithData(data)
	leaf, _ := FilePrefix.WithCodec(cid.Raw).Sum([]byte("0123456789"))
	pn.AddRawLink("", &ipld.Link{Cid: leaf})
	f.Add(pn.RawData(), true)
	f.Add(merkledag.NodeWithData(unixfs.FolderPBData()).RawData(), true)
	f.Add([]byte("raw bytes"), false)
	f.Fuzz(func(t *testing.T, data []byte, pb bool) {
		prefix := FilePrefix.WithCodec(cid.Raw)
		if pb {
			prefix = FilePrefix
		}
		c, err := prefix.Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := blocks.NewBlockWithCid(data, c)
		n, err := DecodeFileNode(b)
		if err == nil && len(n.Children) != len(n.Sizes) {
			t.Fatalf("%d children and %d sizes", len(n.Children), len(n.Sizes))
		}
	})
}
