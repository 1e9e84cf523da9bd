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
// one model run by a server, which keeps their KV cache; a session of the
// whole model also takes token ids and answers with logits (RunTokens).
// It is not safe for concurrent use. An error from the server or the
// transport ends the session (the server closes the stream after an
// Error), and every later call returns it; a request the client refuses to
// send does not.
//
// Failover is the caller's: when a session fails, open another (on another
// peer, or run the layers locally) and replay the hidden states that
// entered layer From at positions 0…p−1 — recomputed by embedding the token
// history and running the layers before From — with one Forward at
// position 0; the new session then holds what the old one did and
// continues at position p. For a whole-model session, replay the token
// history 0…p−1 with one RunTokens at position 0.
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

// RunTokens runs the whole model on the token ids at positions
// pos…pos+len(ids)−1 and writes the logits after the last of them into
// logits, which must be as long as the model's vocabulary. More ids than a
// Tokens carries go in several, in order. The session must be of the whole
// model (From 0, To the model's layer count). With the signature of the
// llama.SessionOptions.Remote hook, it serves as the whole-model hook of a
// session that lacks the model's embedding and classifier.
//
// An answer that is not a Logits of exactly len(logits) values ends the
// session with an error wrapping ErrProtocol. Ids or positions outside the
// wire format's limits, or an empty ids or logits, are refused before
// anything is sent, and the session goes on.
func (c *Client) RunTokens(pos int, ids []int, logits []float32) error {
	if len(ids) == 0 {
		return errors.New("offload: no tokens to run")
	}
	if err := (Logits{Values: logits}).check(); err != nil {
		return fmt.Errorf("offload: room for %w", err)
	}
	// Every request is checked before the first is sent.
	for off := 0; off < len(ids); off += MaxPositions {
		if err := (Tokens{Pos: pos + off, IDs: ids[off:min(off+MaxPositions, len(ids))]}).check(); err != nil {
			return fmt.Errorf("offload: %w", err)
		}
	}
	for len(ids) > 0 {
		n := min(MaxPositions, len(ids))
		resp, err := c.exchange(Tokens{Pos: pos, IDs: ids[:n]})
		if err != nil {
			return err
		}
		answer, ok := resp.(Logits)
		if !ok {
			return c.fail(fmt.Errorf("%w: Tokens answered by %T", ErrProtocol, resp))
		}
		if len(answer.Values) != len(logits) {
			return c.fail(fmt.Errorf("%w: Tokens answered by %d logits, want %d", ErrProtocol, len(answer.Values), len(logits)))
		}
		if n == len(ids) {
			copy(logits, answer.Values)
		}
		pos, ids = pos+n, ids[n:]
	}
	return nil
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
