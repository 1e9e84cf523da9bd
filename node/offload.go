package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/offload"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// LoadedModels are the models a node's inference service holds whole
// (every block, the embedding and the classifier loaded, each checked
// against its CID as it was read), which the offload server then runs
// rather than loading them a second time.
type LoadedModels interface {
	// Loaded returns the model at root, or nil when it holds none whole.
	Loaded(root cid.Cid) *llama.Model
}

// ShareModels has the offload server run the models l holds.
func (n *Node) ShareModels(l LoadedModels) {
	n.loaded.Store(&l)
}

// localModels is the offload server's ModelSource: the models the
// inference service holds (ShareModels), or else those whose every block
// is in the repo, read through the offline DAG service, so that a remote
// caller never makes the node fetch anything, and checked against their
// CIDs, so that a block corrupted on disk fails the load instead of
// skewing what the node computes for its peers.
type localModels struct{ n *Node }

var _ offload.ModelSource = localModels{}

func (l localModels) Model(ctx context.Context, root cid.Cid) (*llama.Model, error) {
	if shared := l.n.loaded.Load(); shared != nil {
		if m := (*shared).Loaded(root); m != nil {
			return m, nil
		}
	}
	m, err := l.n.Repo.LocalModel(ctx, root)
	if err != nil {
		return nil, noModel(err)
	}
	model, err := m.LlamaModel(ctx, llama.Options{})
	if err != nil {
		return nil, noModel(notLocal(err))
	}
	return model, nil
}

// LocalModel opens the model DAG at root from the repo, never fetching a
// block, and checks every block against its CID as it is read, so that a
// block corrupted on disk fails the load (ErrNotLocal for a missing one).
func (r *Repo) LocalModel(ctx context.Context, root cid.Cid) (*loader.Model, error) {
	m, err := loader.Open(ctx, root, blockstore.Verifying(r.Blocks))
	if err != nil {
		return nil, notLocal(err)
	}
	r.touch(ctx, root)
	return m, nil
}

// DialOffload opens an offload session running layers [from, to) of the
// model at root, for up to contextLen positions, on the first connected
// peer that speaks the offload protocol and accepts.
func (n *Node) DialOffload(ctx context.Context, root cid.Cid, from, to, contextLen int) (*offload.Client, error) {
	if !n.IsOnline() {
		return nil, errors.New("running layers on peers needs the daemon running")
	}
	var errs []error
	for _, p := range n.Host.Network().Peers() {
		if ps, err := n.Host.Peerstore().SupportsProtocols(p, offloadwire.ProtocolID); err != nil || len(ps) == 0 {
			continue
		}
		c, err := offload.Dial(ctx, n.Host, p, root, from, to, contextLen)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no connected peer speaks %s", offloadwire.ProtocolID)
	}
	return nil, errors.Join(errs...)
}

// noModel turns a missing block into offload.ErrNoModel, telling the
// remote caller no more than that.
func noModel(err error) error {
	if errors.Is(err, ErrNotLocal) {
		return fmt.Errorf("%w (not all its blocks are here)", offload.ErrNoModel)
	}
	return err
}
