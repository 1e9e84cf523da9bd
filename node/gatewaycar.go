package node

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

// carBackend is boxo's blocks backend whose CARs of a whole UnixFS file
// or raw block from its root (dag-scope=all, no entity-bytes, no path
// below the root) — a model's component — stream straight from the block
// service: boxo's traversal hashes every block
// it reads again and copies each into a buffer of its own, which for a
// model's weights cost the daemon more CPU than sending them. Every other
// request goes to boxo, which answers it as before.
type carBackend struct {
	*gateway.BlocksBackend
	blocks blockservice.BlockService
}

func (b carBackend) GetCAR(ctx context.Context, p path.ImmutablePath, params gateway.CarParams) (gateway.ContentPathMetadata, io.ReadCloser, error) {
	root := p.RootCid()
	if params.Scope != gateway.DagScopeAll || params.Range != nil || len(p.Segments()) != 2 {
		return b.BlocksBackend.GetCAR(ctx, p, params)
	}
	dag := merkledag.NewDAGService(b.blocks).Session(ctx)
	md, err := b.ResolvePath(ctx, p)
	if err != nil || !isFile(ctx, dag, root) {
		return b.BlocksBackend.GetCAR(ctx, p, params) // boxo answers the rest, and what does not resolve
	}
	return md, &carStream{ctx: ctx, dag: dag, root: root, dups: params.Duplicates.Bool(), next: []carItem{{root, 0}}, seen: cid.NewSet()}, nil
}

// isFile reports whether root is a raw block or a UnixFS file's root.
func isFile(ctx context.Context, dag ipld.NodeGetter, root cid.Cid) bool {
	switch root.Type() {
	case cid.Raw:
		return true
	case cid.DagProtobuf:
		nd, err := dag.Get(ctx, root)
		if err != nil {
			return false
		}
		pb, ok := nd.(*merkledag.ProtoNode)
		if !ok {
			return false
		}
		fs, err := unixfs.FSNodeFromBytes(pb.Data())
		return err == nil && (fs.Type() == unixfs.TFile || fs.Type() == unixfs.TRaw)
	}
	return false
}

// carStream is the CARv1 of the DAG at root, its only root, read from dag
// as it is written: its blocks in depth-first pre-order, links in their
// order, each once (with dups, each time it is linked), as boxo's
// gateway orders them. WriteTo writes each block straight to its writer;
// Read gives the same bytes a block at a time.
type carStream struct {
	ctx  context.Context
	dag  ipld.NodeGetter
	root cid.Cid
	dups bool
	next []carItem // the blocks to write, the next one last
	seen *cid.Set

	car  storage.WritableCar
	out  io.Writer    // where car writes now
	read bytes.Buffer // what Read has not given yet
	err  error        // the error every later call returns
}

// carItem is a block to write and its depth below the root.
type carItem struct {
	cid   cid.Cid
	depth int
}

// WriteTo writes the rest of the CAR to w.
func (s *carStream) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if s.read.Len() > 0 { // what a Read before left
		if _, err := cw.Write(s.read.Next(s.read.Len())); err != nil {
			return cw.n, err
		}
	}
	s.out = cw
	for s.err == nil {
		s.err = s.step()
	}
	if s.err == io.EOF {
		return cw.n, nil
	}
	return cw.n, s.err
}

func (s *carStream) Read(p []byte) (int, error) {
	s.out = &s.read
	for s.read.Len() == 0 && s.err == nil {
		s.err = s.step()
	}
	if s.read.Len() > 0 {
		return s.read.Read(p)
	}
	return 0, s.err
}

func (s *carStream) Close() error { return nil }

// step writes the CAR's header, the first time, or else its next block;
// io.EOF after the last.
func (s *carStream) step() error {
	if s.car == nil {
		c, err := storage.NewWritable(writerOf{s}, []cid.Cid{s.root}, car.WriteAsCarV1(true), car.AllowDuplicatePuts(s.dups))
		s.car = c
		return err
	}
	for len(s.next) > 0 {
		it := s.next[len(s.next)-1]
		s.next = s.next[:len(s.next)-1]
		if !s.dups && !s.seen.Visit(it.cid) {
			continue
		}
		if it.depth > gateway.DefaultMaxTraversalDepth {
			return fmt.Errorf("block %s: %w of %d", it.cid, gateway.ErrTraversalTooDeep, gateway.DefaultMaxTraversalDepth)
		}
		nd, err := s.dag.Get(s.ctx, it.cid)
		if err != nil {
			return fmt.Errorf("block %s: %w", it.cid, err)
		}
		links := nd.Links()
		for i := len(links) - 1; i >= 0; i-- {
			s.next = append(s.next, carItem{links[i].Cid, it.depth + 1})
		}
		return s.car.Put(s.ctx, it.cid.KeyString(), nd.RawData())
	}
	return io.EOF
}

// writerOf is where a carStream's CAR writer writes: the stream's writer
// of the moment (no io.WriterAt: a CARv1 streams).
type writerOf struct{ s *carStream }

func (w writerOf) Write(p []byte) (int, error) { return w.s.out.Write(p) }

// countingWriter counts the bytes written to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
