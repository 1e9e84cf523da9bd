package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/offload"
)

// localModels is the offload server's ModelSource: the models whose every
// block is in the repo, read through the offline DAG service, so that a
// remote caller never makes the node fetch anything.
type localModels struct{ r *Repo }

var _ offload.ModelSource = localModels{}

func (l localModels) Model(ctx context.Context, root cid.Cid) (*llama.Model, error) {
	m, err := l.r.Model(ctx, root)
	if err != nil {
		return nil, noModel(err)
	}
	model, err := m.LlamaModel(ctx, llama.Options{})
	if err != nil {
		return nil, noModel(notLocal(err))
	}
	return model, nil
}

// noModel turns a missing block into offload.ErrNoModel, telling the
// remote caller no more than that.
func noModel(err error) error {
	if errors.Is(err, ErrNotLocal) {
		return fmt.Errorf("%w (not all its blocks are here)", offload.ErrNoModel)
	}
	return err
}
