package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// Add imports the model at src into the repo and pins its root under name
// ("": the file's name). The pin is recorded only after every block is stored: an
// add cut short leaves unpinned blocks, which GC removes.
func (r *Repo) Add(ctx context.Context, src loader.Source, name string, opts loader.ImportOptions) (cid.Cid, *loader.Manifest, error) {
	if name == "" {
		name = filepath.Base(src.Path)
	}
	root, m, err := r.importAndPin(ctx, src, name, opts)
	if err != nil {
		return cid.Undef, nil, err
	}
	r.touch(ctx, root)
	if err := r.autoGC(ctx); err != nil {
		return root, m, fmt.Errorf("added %s: %w", root, err)
	}
	return root, m, nil
}

// Model opens the model DAG at root from the repo.
func (r *Repo) Model(ctx context.Context, root cid.Cid) (*loader.Model, error) {
	m, err := loader.Open(ctx, root, r.Blocks)
	if err != nil {
		return nil, notLocal(err)
	}
	r.touch(ctx, root)
	return m, nil
}

// importAndPin imports and pins with GC held off in between. The source
// is opened and checked first, without holding GC off: only the writing of
// blocks and the pin hold it, and both stop when ctx ends.
func (r *Repo) importAndPin(ctx context.Context, src loader.Source, name string, opts loader.ImportOptions) (cid.Cid, *loader.Manifest, error) {
	p, err := loader.Prepare(ctx, src, opts)
	if err != nil {
		return cid.Undef, nil, err
	}
	defer p.Close()
	release, err := r.gcLock.share(ctx)
	if err != nil {
		return cid.Undef, nil, err
	}
	defer release()
	root, m, err := p.Store(ctx, dagstore.New(r.Blocks))
	if err != nil {
		return cid.Undef, nil, err
	}
	if err := r.Pin(ctx, root, name); err != nil {
		return cid.Undef, nil, err
	}
	return root, m, nil
}
