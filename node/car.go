package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/ipfs-accelerate/accel/blockstore"
)

// ErrMalformedCAR matches every reason ImportCAR rejects a CAR for. It is
// an ErrInvalid.
var ErrMalformedCAR = Invalid(errors.New("malformed CAR"))

// exportHint says how to make a DAG whole for ExportCAR.
const exportHint = "export writes only blocks in the repo: fetch the model first with accel pin add"

// malformedCAR is a reason to reject a CAR: "car: block 5 (bafy…): …".
type malformedCAR struct{ msg string }

func (e malformedCAR) Error() string { return "car: " + e.msg }
func (malformedCAR) Unwrap() error   { return ErrMalformedCAR }

func malformed(format string, args ...any) error {
	return malformedCAR{fmt.Sprintf(format, args...)}
}

// ExportCAR writes the DAG at root to w as a CARv1 whose only root is
// root, every block once, in depth-first pre-order (the order of
// `ipfs dag export`). Every block must be local: a DAG that is not whole
// is an ErrNotLocal before anything is written.
func (r *Repo) ExportCAR(ctx context.Context, root cid.Cid, w io.Writer) error {
	if !root.Defined() {
		return Invalid(errors.New("export: undefined CID"))
	}
	order, err := r.blocksOf(ctx, root)
	if err != nil {
		return fmt.Errorf("export %s: %w", root, missingBlock(err, exportHint))
	}
	// Hide any io.WriterAt of w: a CARv1 streams.
	out, err := storage.NewWritable(struct{ io.Writer }{w}, []cid.Cid{root}, car.WriteAsCarV1(true))
	if err != nil {
		return err
	}
	for _, c := range order {
		b, err := r.Blocks.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("export %s: %w", root, missingBlock(err, exportHint))
		}
		if err := out.Put(ctx, c.KeyString(), b.RawData()); err != nil {
			return fmt.Errorf("export %s: %w", root, err)
		}
	}
	r.touch(ctx, root)
	return nil
}

// blocksOf lists the blocks of the DAG at root once each, in depth-first
// pre-order, or fails with the ipld.ErrNotFound of the first one missing.
// It reads the inner nodes and only checks that the raw leaves are
// stored (the walk reads no raw block).
func (r *Repo) blocksOf(ctx context.Context, root cid.Cid) ([]cid.Cid, error) {
	var (
		order  []cid.Cid
		hasErr error
	)
	seen := cid.NewSet()
	err := r.walk(ctx, root, func(c cid.Cid) bool {
		if hasErr != nil || !seen.Visit(c) {
			return false
		}
		if c.Type() == cid.Raw {
			ok, err := r.Blocks.Has(ctx, c)
			if err == nil && !ok {
				err = ipld.ErrNotFound{Cid: c}
			}
			if hasErr = err; err != nil {
				return false
			}
		}
		order = append(order, c)
		return true
	})
	if err == nil {
		err = hasErr
	}
	return order, err
}

// putBatch is how many bytes of blocks ImportCAR stores at a time.
const putBatch = 32 << 20

// ImportCAR stores the blocks of a CAR (v1 or v2) read from rd, checking
// each against its CID and the block size limit, then pins its roots
// recursively. A CAR that is malformed, holds a block whose bytes do not
// match its CID or an oversized block, or whose roots' DAGs are not
// complete gets an error wrapping ErrMalformedCAR and pins nothing; the
// blocks stored before the error stay unpinned for GC.
func (r *Repo) ImportCAR(ctx context.Context, rd io.Reader) ([]cid.Cid, error) {
	roots, err := r.importCAR(ctx, rd)
	if err != nil {
		return nil, err
	}
	if err := r.autoGC(ctx); err != nil {
		return roots, fmt.Errorf("imported: %w", err)
	}
	return roots, nil
}

// importCAR stores and pins with GC held off.
func (r *Repo) importCAR(ctx context.Context, rd io.Reader) ([]cid.Cid, error) {
	release, err := r.gcLock.share(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	br, err := car.NewBlockReader(rd, car.MaxAllowedSectionSize(blockstore.MaxBlockSize+1024))
	if err != nil {
		return nil, malformed("header: not a CAR (%v)", err)
	}
	if len(br.Roots) == 0 {
		return nil, malformed("header: no roots")
	}
	var (
		batch []blocks.Block
		size  int
		n     int
	)
	flush := func() error {
		err := r.Blocks.PutMany(ctx, batch)
		batch, size = batch[:0], 0
		return err
	}
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("block %d: %v", n, err)
		}
		if len(b.RawData()) > blockstore.MaxBlockSize {
			return nil, malformed("block %d (%s): over the %d-byte block limit", n, b.Cid(), blockstore.MaxBlockSize)
		}
		n++
		batch = append(batch, b)
		size += len(b.RawData())
		if size >= putBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	// Every root's DAG must be whole before any is pinned.
	for _, root := range br.Roots {
		if err := r.walk(ctx, root, cid.NewSet().Visit); err != nil {
			return nil, malformed("root %s: its DAG is not complete: %v", root, notLocal(err))
		}
	}
	for _, root := range br.Roots {
		if err := r.Pin(ctx, root, ""); err != nil {
			return nil, err
		}
		r.touch(ctx, root)
	}
	return br.Roots, nil
}
