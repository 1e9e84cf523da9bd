//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// remoteLayers runs what a generation's session lacks on the peer the
// page is connected to, one offload session per layer range, over streams
// JS opens: peer is {open(protocol) → Promise<handle>, exchange(handle,
// body) → Promise<body>, close(handle)}. It serves as a session's Offload
// hook, and its Remote hook while the model lacks its embedding and
// classifier, for one generation; close ends its sessions.
type remoteLayers struct {
	peer    js.Value
	root    cid.Cid
	layers  int // the model's
	context int // the session's positions (0: the model's)
	ranges  map[[2]int]*remoteRange
	served  int // offload calls that succeeded
}

// remoteRange is one offload session and the stream it runs on.
type remoteRange struct {
	client *offloadwire.Client
	handle js.Value
}

func newRemoteLayers(peer js.Value, root cid.Cid, layers, context int) *remoteLayers {
	return &remoteLayers{peer: peer, root: root, layers: layers, context: context, ranges: map[[2]int]*remoteRange{}}
}

// offloadError is a failure of the peer or of the way to it, as opposed to
// one of the model.
type offloadError struct{ err error }

func (e offloadError) Error() string { return e.err.Error() }
func (e offloadError) Unwrap() error { return e.err }

// run is the llama.SessionOptions.Offload hook: it opens a session for
// [from, to) the first time that range is asked for. Its errors are
// offloadErrors (the session names the layers).
func (r *remoteLayers) run(from, to, pos int, h []float32) error {
	rr, err := r.session(from, to)
	if err != nil {
		return err
	}
	if err := rr.client.RunLayers(from, to, pos, h); err != nil {
		return offloadError{err}
	}
	r.served++
	return nil
}

// session is the session for [from, to), opened the first time.
func (r *remoteLayers) session(from, to int) (*remoteRange, error) {
	rr, ok := r.ranges[[2]int{from, to}]
	if !ok {
		var err error
		if rr, err = r.open(from, to); err != nil {
			return nil, offloadError{fmt.Errorf("opening an offload session: %w", err)}
		}
		r.ranges[[2]int{from, to}] = rr
	}
	return rr, nil
}

// runAll is the llama.SessionOptions.Remote hook: the whole model, on a
// session over every layer opened the first time. Its errors are
// offloadErrors.
func (r *remoteLayers) runAll(pos int, tokens []int, logits []float32) error {
	rr, err := r.session(0, r.layers)
	if err != nil {
		return err
	}
	if err := rr.client.RunTokens(pos, tokens, logits); err != nil {
		return offloadError{err}
	}
	r.served++
	return nil
}

func (r *remoteLayers) open(from, to int) (*remoteRange, error) {
	handle, err := await(r.peer.Call("open", offloadwire.ProtocolID))
	if err != nil {
		return nil, err
	}
	exchange := func(body []byte) ([]byte, error) {
		data := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(data, body)
		reply, err := await(r.peer.Call("exchange", handle, data))
		if err != nil {
			return nil, err
		}
		return bytesOf(reply)
	}
	client, err := offloadwire.OpenSession(exchange, offloadwire.Open{Root: r.root, From: from, To: to, Context: r.context})
	if err != nil {
		r.peer.Call("close", handle)
		return nil, err
	}
	return &remoteRange{client: client, handle: handle}, nil
}

// close ends every session the generation opened; the next run opens new
// ones.
func (r *remoteLayers) close() {
	for key, rr := range r.ranges {
		rr.client.Close()
		r.peer.Call("close", rr.handle)
		delete(r.ranges, key)
	}
}
