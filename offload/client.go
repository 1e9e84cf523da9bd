// Package offload runs transformer layers for peers that lack them, over
// the offload protocol (/accel/offload/1.0.0) on libp2p streams: a client
// holding a partial model (llama.NewPartial) opens a session for a layer
// range of a model on a peer that holds it, forwards hidden states and gets
// them back transformed; the serving peer keeps the session's KV cache
// until the stream ends. A session of the whole model also runs it on
// token ids and answers with the logits after the last one (RunTokens),
// for a client that has not fetched the model's embedding and classifier. The wire format, and a client over any transport,
// are package proto/offloadwire, which the browser runtime uses without
// libp2p; this package is the go-libp2p server and dialer.
package offload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// exchangeTimeout bounds one exchange: the client's wait for an answer
// (a Forward of many positions through many layers takes a while) and the
// server's write of one.
const exchangeTimeout = 2 * time.Minute

// Client is an offload session on a peer over one libp2p stream: an
// offloadwire.Client, whose RunLayers is the llama.SessionOptions.Offload
// hook of a session lacking exactly its layers, whose RunTokens (in a
// session of the whole model) is the llama.SessionOptions.Remote hook of a
// session lacking the embedding and classifier, and whose doc says how to
// fail over. Close ends the session and always releases the stream.
type Client struct {
	*offloadwire.Client
	stream network.Stream
}

// Dial opens a session on peer p running layers [from, to) of the model at
// root, for up to contextLen positions (0: the model's, within the peer's
// limit); [0, the model's layer count) is a whole-model session, which
// RunTokens needs. ctx bounds the dial and the open.
func Dial(ctx context.Context, h host.Host, p peer.ID, root cid.Cid, from, to, contextLen int) (*Client, error) {
	st, err := h.NewStream(ctx, p, offloadwire.ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("offload: opening a stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	r := bufio.NewReader(st)
	rt := func(req []byte) ([]byte, error) {
		_ = st.SetDeadline(time.Now().Add(exchangeTimeout))
		if err := offloadwire.WriteFrame(st, req); err != nil {
			return nil, err
		}
		resp, err := offloadwire.ReadFrame(r)
		if err == io.EOF {
			return nil, errors.New("the peer closed the stream")
		}
		return resp, err
	}
	c, err := offloadwire.OpenSession(rt, offloadwire.Open{Root: root, From: from, To: to, Context: contextLen})
	if stop() && err == nil {
		return &Client{Client: c, stream: st}, nil
	}
	_ = st.Reset()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("offload: opening a session on %s: %w", p, ctx.Err())
	}
	return nil, err
}

// Close ends the session and closes the stream (resetting it when the
// session had already failed).
func (c *Client) Close() error {
	if err := c.Client.Close(); err != nil {
		_ = c.stream.Reset()
		return err
	}
	return c.stream.Close()
}
