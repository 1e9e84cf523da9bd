package node

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/boxo/ipld/unixfs/importer/trickle"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/loader"
)

// The CAR of a whole file the gateway streams itself is boxo's CAR byte
// for byte — read to the end and through WriteTo, with duplicate blocks
// and without — for every layout boxo's importers write and for a raw
// block; requests it does not take (a directory, a part of a file, one
// block) are boxo's own answers.
func TestGatewayCARMatchesBoxo(t *testing.T) {
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	bsvc := blockservice.New(bs, offline.Exchange(bs))
	dag := merkledag.NewDAGService(bsvc)
	boxo, err := gateway.NewBlocksBackend(bsvc)
	if err != nil {
		t.Fatal(err)
	}
	ours := carBackend{boxo, bsvc}

	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 30_011)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	copy(data[9000:10000], data[2000:3000]) // two chunks alike: a leaf linked twice
	file := func(params helpers.DagBuilderParams, trickleLayout bool, size int) cid.Cid {
		params.Dagserv = dag
		db, err := params.New(chunker.NewSizeSplitter(bytes.NewReader(data[:size]), 1000))
		if err != nil {
			t.Fatal(err)
		}
		layout := balanced.Layout
		if trickleLayout {
			layout = trickle.Layout
		}
		nd, err := layout(db)
		if err != nil {
			t.Fatal(err)
		}
		return nd.Cid()
	}
	raw := merkledag.NewRawNode(data[:500])
	if err := dag.Add(ctx, raw); err != nil {
		t.Fatal(err)
	}
	rawCID := raw.Cid()
	dir := unixfs.EmptyDirNode()
	balancedRoot := file(helpers.DagBuilderParams{Maxlinks: 4, RawLeaves: true, CidBuilder: loader.FilePrefix}, false, len(data))
	if err := dir.AddNodeLink("f", raw); err != nil {
		t.Fatal(err)
	}
	if err := dag.Add(ctx, dir); err != nil {
		t.Fatal(err)
	}

	all := gateway.CarParams{Scope: gateway.DagScopeAll, Order: gateway.DagOrderDFS, Duplicates: gateway.DuplicateBlocksExcluded}
	withDups := all
	withDups.Duplicates = gateway.DuplicateBlocksIncluded
	from := int64(100)
	part := all
	part.Range = &gateway.DagByteRange{From: from}
	block := all
	block.Scope = gateway.DagScopeBlock
	for _, c := range []struct {
		name   string
		root   cid.Cid
		params gateway.CarParams
		ours   bool // streamed by carBackend, not boxo
	}{
		{"raw leaves, balanced", balancedRoot, all, true},
		{"raw leaves, balanced, duplicates", balancedRoot, withDups, true},
		{"dag-pb leaves, CIDv0", file(helpers.DagBuilderParams{Maxlinks: 3, CidBuilder: merkledag.V0CidPrefix()}, false, len(data)), all, true},
		{"trickle, duplicates", file(helpers.DagBuilderParams{Maxlinks: 3, RawLeaves: true, CidBuilder: loader.FilePrefix}, true, len(data)), withDups, true},
		{"one dag-pb leaf", file(helpers.DagBuilderParams{Maxlinks: 4, CidBuilder: loader.FilePrefix}, false, 900), all, true},
		{"a raw block", rawCID, all, true},
		{"a directory", dir.Cid(), all, false},
		{"a range of a file", balancedRoot, part, false},
		{"the root block alone", balancedRoot, block, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := path.FromCid(c.root)
			if got := isFile(ctx, dag, c.root) && c.params.Scope == gateway.DagScopeAll && c.params.Range == nil; got != c.ours {
				t.Fatalf("streamed by carBackend: %v, want %v", got, c.ours)
			}
			want := readCAR(t, boxo, p, c.params, false)
			for _, writeTo := range []bool{false, c.ours} {
				if got := readCAR(t, ours, p, c.params, writeTo); !bytes.Equal(got, want) {
					t.Errorf("WriteTo %v: %d bytes, boxo's CAR %d bytes", writeTo, len(got), len(want))
				}
			}
		})
	}

	// A leaf missing: the stream stops with an error that names it, after
	// the blocks before it.
	root, err := dag.Get(ctx, balancedRoot)
	if err != nil {
		t.Fatal(err)
	}
	missing := lastLeaf(t, ctx, dag, root)
	if err := bs.DeleteBlock(ctx, missing); err != nil {
		t.Fatal(err)
	}
	_, stream, err := ours.GetCAR(ctx, path.FromCid(balancedRoot), all)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, stream)
	if err == nil || !strings.Contains(err.Error(), missing.String()) || n == 0 || n != int64(out.Len()) {
		t.Errorf("a CAR with a missing leaf: %d bytes (%d counted), error %v", out.Len(), n, err)
	}
}

// readCAR reads the CAR backend b answers for p and params to its end,
// through WriteTo or Read.
func readCAR(t *testing.T, b gateway.IPFSBackend, p path.ImmutablePath, params gateway.CarParams, writeTo bool) []byte {
	t.Helper()
	_, stream, err := b.GetCAR(context.Background(), p, params)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var out bytes.Buffer
	if writeTo {
		wt, ok := stream.(io.WriterTo)
		if !ok {
			t.Fatalf("%T is no io.WriterTo", stream)
		}
		_, err = wt.WriteTo(&out)
	} else {
		_, err = out.ReadFrom(struct{ io.Reader }{stream}) // Read alone
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// lastLeaf is the last leaf under nd.
func lastLeaf(t *testing.T, ctx context.Context, dag ipld.DAGService, nd ipld.Node) cid.Cid {
	t.Helper()
	for len(nd.Links()) > 0 {
		next, err := dag.Get(ctx, nd.Links()[len(nd.Links())-1].Cid)
		if err != nil {
			t.Fatal(err)
		}
		nd = next
	}
	return nd.Cid()
}
