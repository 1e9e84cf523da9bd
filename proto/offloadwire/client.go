package offloadwire

import (
	"errors"
	"fmt"
)

// Transport carries one exchange of a session: it delivers request (a
// body) to the server as one frame and returns the body of the one frame
// that answers it. Over a byte stream that is WriteFrame then ReadFrame;
// the browser SDK's FrameStream (browser/js/p2p.js) does the same in JS.
type Transport func(request []byte) ([]byte, error)

// Client is the client end of one offload session: layers [From, To) of
// one model run by a server, which keeps their KV cache. It is not safe
// for concurrent use. An error from the server or the transport ends the
// session (the server closes the stream after an Error), and every later
// call returns it; a request the client refuses to encode does not.
//
// Failover is the caller's: when a session fails, open another (on another
// peer, or run the layers locally) and replay the hidden states that
// entered layer From at positions 0…p−1 — recomputed by embedding the token
// history and running the layers before From — with one Forward at
// position 0; the new session then holds what the old one did and
// continues at position p.
type Client struct {
	rt       Transport
	from, to int
	opened   Opened
	err      error // why the session ended
}

// OpenSession opens a session over rt.
func OpenSession(rt Transport, open Open) (*Client, error) {
	c := &Client{rt: rt, from: open.From, to: open.To}
	resp, err := c.exchange(open)
	if err != nil {
		return nil, err
	}
	opened, ok := resp.(Opened)
	if !ok {
		return nil, c.fail(fmt.Errorf("%w: Open answered by %T", ErrProtocol, resp))
	}
	c.opened = opened
	return c, nil
}

// Opened is the server's acceptance: its session id and the model's width.
func (c *Client) Opened() Opened { return c.opened }

// Forward runs the session's layers on h, the hidden states of positions
// pos… (whole rows of the model's width), in place. More positions than a
// Forward carries go in several, in order.
func (c *Client) Forward(pos int, h []float32) error {
	dim := c.opened.Dim
	if len(h) == 0 || len(h)%dim != 0 {
		return fmt.Errorf("offload: %d values are not whole %d-wide hidden states", len(h), dim)
	}
	rows := min(MaxPositions, maxValues/dim)
	for len(h) > 0 {
		n := min(rows, len(h)/dim)
		chunk := h[:n*dim]
		resp, err := c.exchange(Forward{Pos: pos, N: n, States: chunk})
		if err != nil {
			return err
		}
		hidden, ok := resp.(Hidden)
		if !ok || len(hidden.States) != len(chunk) {
			return c.fail(fmt.Errorf("%w: Forward of %d values answered by %T", ErrProtocol, len(chunk), resp))
		}
		copy(chunk, hidden.States)
		pos, h = pos+n, h[n*dim:]
	}
	return nil
}

// RunLayers is Forward for the session's own layer range: with the
// signature of llama.Session.RunLayers, it serves as the
// llama.SessionOptions.Offload hook of a session that lacks exactly
// layers [From, To).
func (c *Client) RunLayers(from, to, pos int, h []float32) error {
	if from != c.from || to != c.to {
		return fmt.Errorf("offload: the session runs layers [%d, %d), not [%d, %d)", c.from, c.to, from, to)
	}
	return c.Forward(pos, h)
}

// Close ends the session on the server.
func (c *Client) Close() error {
	resp, err := c.exchange(Close{})
	if err != nil {
		return err
	}
	if _, ok := resp.(Closed); !ok {
		return c.fail(fmt.Errorf("%w: Close answered by %T", ErrProtocol, resp))
	}
	c.err = errClosed
	return nil
}

var errClosed = errors.New("offload: the session is closed")

// exchange sends m and returns the answer, or the error that ended the
// session.
func (c *Client) exchange(m Message) (Message, error) {
	if c.err != nil {
		return nil, c.err
	}
	req, err := Encode(m)
	if err != nil {
		return nil, err // nothing was sent: the session goes on
	}
	body, err := c.rt(req)
	if err != nil {
		return nil, c.fail(fmt.Errorf("offload: %w", err))
	}
	resp, err := Decode(body)
	if err != nil {
		return nil, c.fail(err)
	}
	if e, ok := resp.(Error); ok {
		return nil, c.fail(e)
	}
	return resp, nil
}

// fail ends the session with err, unless it ended already; it returns
// err.
func (c *Client) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}
