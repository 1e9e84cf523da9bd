// Package offloadwire is the offload protocol (/accel/offload/1.0.0): its
// codec and its client end over any transport. It does not depend on
// libp2p: the browser runtime (GOOS=js GOARCH=wasm) runs it with JS moving
// the frames over a js-libp2p stream, and package offload (the server and
// the go-libp2p dialer) over go-libp2p streams.
//
// Decoding never panics on hostile input: a frame's length is checked
// against MaxFrameSize, its body's memory is committed only as its bytes
// arrive (package wirebuf), Decode returns only messages within the
// limits, and Encode refuses messages outside them.
//
// # Wire format
//
// A client opens one stream per session; the stream is the session. Every
// exchange is one request frame answered by one response frame, and the
// client writes a request only once the previous answer has arrived.
//
//	frame = uvarint len (1..MaxFrameSize) · body
//	body  = type byte · fields
//
// The requests, each with its answer:
//
//	Open    0x01  uvarint cidLen (1..MaxCIDLen) · binary CID of the model's root
//	              · uvarint from · uvarint to (from < to ≤ MaxLayers)
//	              · uvarint context (positions ≤ MaxContext; 0: the model's,
//	              within the server's limit)
//	  → Opened  0x02  uvarint session id · uvarint dim (1..MaxDim)
//	Forward 0x03  uvarint pos · uvarint n (1..MaxPositions; pos+n ≤ MaxContext)
//	              · n×dim float32 little-endian (dim as Opened said): the
//	              hidden states entering layer from at positions pos…pos+n−1
//	  → Hidden  0x04  n×dim float32 little-endian: those states after layer to−1
//	Close   0x05  (no fields)
//	  → Closed  0x06  (no fields)
//	Tokens  0x08  uvarint pos · uvarint n (1..MaxPositions; pos+n ≤ MaxContext)
//	              · n×uvarint token id (each < MaxVocab): the tokens at
//	              positions pos…pos+n−1
//	  → Logits  0x09  m×float32 little-endian (1..MaxVocab values): the
//	              logits after the last of those tokens
//
// Any request may instead be answered by
//
//	Error   0x07  UTF-8 message (1..MaxErrorLen bytes)
//
// after which the server closes the stream: an error ends the session.
// The first request must be Open. A Forward's or a Tokens' pos is at most
// the number of positions the session holds (equal to continue; less to
// rewind, which replaces the positions from pos on); Forward and Tokens
// share the session's positions. The server keeps the KV cache of layers
// [from, to) for the session's positions until the stream ends, in float32
// and without a sliding window (so a client session with an f16 cache or a
// window differs from an all-local run with those options).
//
// A Tokens request is valid only in a session whose range is the whole
// model (from 0, to the model's layer count): the server embeds the
// tokens, runs every layer on them, keeping every layer's KV cache, and
// answers with the logits (the final norm and the classifier) of the last
// position, as many values as the model's vocabulary. It serves a client
// that lacks the model's embedding and classifier.
//
// Varints are unsigned LEB128 in minimal form (multiformats uvarint);
// every message has exactly one encoding, and a body with bytes after its
// fields is malformed.
package offloadwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"github.com/ipfs-accelerate/accel/proto/wirebuf"
)

// ProtocolID is the libp2p protocol the frames travel on.
const ProtocolID = "/accel/offload/1.0.0"

// Limits of the wire format. Messages over them are protocol errors.
const (
	MaxFrameSize = 16 << 20 // bytes of one frame body
	MaxPositions = 512      // positions in one Forward
	MaxLayers    = 1024     // the end of a session's layer range
	MaxContext   = 1 << 20  // positions of one session
	MaxDim       = 1 << 20  // width of a hidden state (one always fits in a frame)
	MaxCIDLen    = 128      // bytes of the binary root CID
	MaxErrorLen  = 1024     // bytes of an error message
	MaxVocab     = 1 << 20  // values of one Logits, and the bound of a token id
)

// maxValues is the most float32 values a Forward, Hidden or Logits
// carries: what fits in a frame after the type byte and a Forward's two
// varints.
const maxValues = (MaxFrameSize - 16) / 4

// A Logits of MaxVocab values fits in a frame (the constant overflows
// otherwise).
const _ uint = maxValues - MaxVocab

// Message types, the first byte of a body.
const (
	typeOpen byte = iota + 1
	typeOpened
	typeForward
	typeHidden
	typeClose
	typeClosed
	typeError
	typeTokens
	typeLogits
)

// ErrProtocol marks a frame or message that breaks the wire format.
var ErrProtocol = errors.New("offload: protocol violation")

// Message is one of Open, Opened, Forward, Hidden, Close, Closed, Tokens,
// Logits and Error.
type Message interface {
	kind() byte
	check() error                  // the limits a valid message meets
	appendFields([]byte) []byte    // the encoding after the type byte
	decodeFields(*decoder) Message // the message read from d
}

// Open asks for a session running layers [From, To) of the model at Root,
// for up to Context positions (0: the model's context length).
type Open struct {
	Root     cid.Cid
	From, To int
	Context  int
}

// Opened accepts an Open: the server's session id (for logs) and the width
// of the model's hidden states.
type Opened struct {
	Session uint64
	Dim     int
}

// Forward asks the session to run its layers on the hidden states of
// positions Pos…Pos+N−1 (N rows of len(Hidden)/N values).
type Forward struct {
	Pos, N int
	States []float32
}

// Hidden answers a Forward with the hidden states after the session's
// layers.
type Hidden struct {
	States []float32
}

// Tokens asks a whole-model session to run the model on the token ids
// IDs at positions Pos…Pos+len(IDs)−1.
type Tokens struct {
	Pos int
	IDs []int
}

// Logits answers a Tokens with the logits after its last token, one value
// for each token of the model's vocabulary.
type Logits struct {
	Values []float32
}

// Close ends a session; Closed acknowledges it.
type (
	Close  struct{}
	Closed struct{}
)

// Error answers a request the server could not serve; the session is over.
// It is an error on the client side.
type Error struct {
	Message string
}

func (e Error) Error() string { return "offload: the serving peer says: " + e.Message }

// ErrorOf is the Error message for err, cut to MaxErrorLen bytes of valid
// UTF-8.
func ErrorOf(err error) Error {
	msg := strings.ToValidUTF8(err.Error(), "\uFFFD")
	for len(msg) > MaxErrorLen {
		_, size := utf8.DecodeLastRuneInString(msg)
		msg = msg[:len(msg)-size]
	}
	if msg == "" {
		msg = "error"
	}
	return Error{msg}
}

func (Open) kind() byte    { return typeOpen }
func (Opened) kind() byte  { return typeOpened }
func (Forward) kind() byte { return typeForward }
func (Hidden) kind() byte  { return typeHidden }
func (Close) kind() byte   { return typeClose }
func (Closed) kind() byte  { return typeClosed }
func (Error) kind() byte   { return typeError }
func (Tokens) kind() byte  { return typeTokens }
func (Logits) kind() byte  { return typeLogits }

func (m Open) check() error {
	switch {
	case !m.Root.Defined() || len(m.Root.Bytes()) > MaxCIDLen:
		return fmt.Errorf("root %v is not a CID of at most %d bytes", m.Root, MaxCIDLen)
	case m.From < 0 || m.From >= m.To || m.To > MaxLayers:
		return fmt.Errorf("layer range [%d, %d) is empty or outside [0, %d)", m.From, m.To, MaxLayers)
	case m.Context < 0 || m.Context > MaxContext:
		return fmt.Errorf("context of %d positions is outside [0, %d]", m.Context, MaxContext)
	}
	return nil
}

func (m Opened) check() error {
	if m.Dim < 1 || m.Dim > MaxDim {
		return fmt.Errorf("hidden states %d wide (want 1..%d)", m.Dim, MaxDim)
	}
	return nil
}

func (m Forward) check() error {
	switch {
	case m.N < 1 || m.N > MaxPositions:
		return fmt.Errorf("forward of %d positions (want 1..%d)", m.N, MaxPositions)
	case m.Pos < 0 || m.Pos > MaxContext-m.N:
		return fmt.Errorf("positions [%d, %d) are outside [0, %d)", m.Pos, m.Pos+m.N, MaxContext)
	case len(m.States) > maxValues:
		return fmt.Errorf("%d values exceed the %d a frame holds", len(m.States), maxValues)
	case len(m.States) == 0 || len(m.States)%m.N != 0 || len(m.States)/m.N > MaxDim:
		return fmt.Errorf("%d values are not %d rows of 1..%d", len(m.States), m.N, MaxDim)
	}
	return nil
}

func (m Hidden) check() error {
	if len(m.States) == 0 || len(m.States) > maxValues {
		return fmt.Errorf("%d hidden state values (want 1..%d)", len(m.States), maxValues)
	}
	return nil
}

func (m Tokens) check() error {
	n := len(m.IDs)
	switch {
	case n < 1 || n > MaxPositions:
		return fmt.Errorf("tokens of %d positions (want 1..%d)", n, MaxPositions)
	case m.Pos < 0 || m.Pos > MaxContext-n:
		return fmt.Errorf("positions [%d, %d) are outside [0, %d)", m.Pos, m.Pos+n, MaxContext)
	}
	for i, id := range m.IDs {
		if id < 0 || id >= MaxVocab {
			return fmt.Errorf("token %d: id %d is outside [0, %d)", i, id, MaxVocab)
		}
	}
	return nil
}

func (m Logits) check() error {
	if len(m.Values) == 0 || len(m.Values) > MaxVocab {
		return fmt.Errorf("%d logits (want 1..%d)", len(m.Values), MaxVocab)
	}
	return nil
}

func (Close) check() error  { return nil }
func (Closed) check() error { return nil }

func (m Error) check() error {
	if m.Message == "" || len(m.Message) > MaxErrorLen || !utf8.ValidString(m.Message) {
		return fmt.Errorf("error message of %d bytes is not 1..%d bytes of UTF-8", len(m.Message), MaxErrorLen)
	}
	return nil
}

func (m Open) appendFields(b []byte) []byte {
	root := m.Root.Bytes()
	b = binary.AppendUvarint(b, uint64(len(root)))
	b = append(b, root...)
	b = binary.AppendUvarint(b, uint64(m.From))
	b = binary.AppendUvarint(b, uint64(m.To))
	return binary.AppendUvarint(b, uint64(m.Context))
}

func (m Opened) appendFields(b []byte) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(b, m.Session), uint64(m.Dim))
}

func (m Forward) appendFields(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(m.Pos))
	b = binary.AppendUvarint(b, uint64(m.N))
	return appendFloats(b, m.States)
}

func (m Tokens) appendFields(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(m.Pos))
	b = binary.AppendUvarint(b, uint64(len(m.IDs)))
	for _, id := range m.IDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

func (m Hidden) appendFields(b []byte) []byte { return appendFloats(b, m.States) }
func (m Logits) appendFields(b []byte) []byte { return appendFloats(b, m.Values) }
func (Close) appendFields(b []byte) []byte    { return b }
func (Closed) appendFields(b []byte) []byte   { return b }
func (m Error) appendFields(b []byte) []byte  { return append(b, m.Message...) }

func (Open) decodeFields(d *decoder) Message {
	var m Open
	root := d.bytes(d.bounded(MaxCIDLen))
	if d.err == nil {
		if m.Root, d.err = cid.Cast(root); d.err != nil {
			d.err = fmt.Errorf("root CID: %v", d.err)
		}
	}
	m.From, m.To, m.Context = d.bounded(MaxLayers), d.bounded(MaxLayers), d.bounded(MaxContext)
	return m
}

func (Opened) decodeFields(d *decoder) Message {
	return Opened{Session: d.uvarint(), Dim: d.bounded(MaxDim)}
}

func (Forward) decodeFields(d *decoder) Message {
	return Forward{Pos: d.bounded(MaxContext), N: d.bounded(MaxPositions), States: d.floats()}
}

func (Tokens) decodeFields(d *decoder) Message {
	m := Tokens{Pos: d.bounded(MaxContext)}
	n := d.bounded(MaxPositions)
	if d.err != nil {
		return m
	}
	// Every id takes at least a byte: the slice is no longer than the ids
	// the bytes left can hold.
	m.IDs = make([]int, 0, min(n, len(d.b)))
	for range n {
		id := d.bounded(MaxVocab - 1)
		if d.err != nil {
			return m
		}
		m.IDs = append(m.IDs, id)
	}
	return m
}

func (Hidden) decodeFields(d *decoder) Message { return Hidden{d.floats()} }
func (Logits) decodeFields(d *decoder) Message { return Logits{d.floats()} }
func (Close) decodeFields(*decoder) Message    { return Close{} }
func (Closed) decodeFields(*decoder) Message   { return Closed{} }
func (Error) decodeFields(d *decoder) Message  { return Error{string(d.bytes(len(d.b)))} }

// messages maps a type byte to its message.
var messages = map[byte]Message{
	typeOpen: Open{}, typeOpened: Opened{}, typeForward: Forward{}, typeHidden: Hidden{},
	typeClose: Close{}, typeClosed: Closed{}, typeError: Error{},
	typeTokens: Tokens{}, typeLogits: Logits{},
}

// Encode returns the body of m, or an error when m breaks the limits (a
// body within them is at most MaxFrameSize bytes).
func Encode(m Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrProtocol, m, err)
	}
	return m.appendFields([]byte{m.kind()}), nil
}

// Decode parses a frame body. What it returns passes the limits, and
// Encode gives back exactly body.
func Decode(body []byte) (Message, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	if len(body) > MaxFrameSize {
		return nil, fmt.Errorf("%w: frame of %d bytes (max %d)", ErrProtocol, len(body), MaxFrameSize)
	}
	proto, ok := messages[body[0]]
	if !ok {
		return nil, fmt.Errorf("%w: message type %#x", ErrProtocol, body[0])
	}
	d := &decoder{b: body[1:]}
	m := proto.decodeFields(d)
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the fields", len(d.b))
	}
	if d.err == nil {
		d.err = m.check()
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrProtocol, proto, d.err)
	}
	return m, nil
}

// ReadFrame reads one frame and returns its body. It returns io.EOF when r
// ends before a frame begins, an error wrapping ErrProtocol for a malformed
// length or one over MaxFrameSize, and r's errors otherwise. It commits
// memory for a body only as its bytes arrive.
func ReadFrame(r *bufio.Reader) ([]byte, error) { return ReadFrameIf(r, nil) }

// ReadFrameIf is ReadFrame that asks admit, when not nil, whether to read
// a body of the length the frame announces, before reading any of it. An
// error from admit is returned as is, with the body unread.
func ReadFrameIf(r *bufio.Reader, admit func(n int) error) ([]byte, error) {
	n, err := varint.ReadUvarint(r)
	switch {
	case errors.Is(err, varint.ErrOverflow) || errors.Is(err, varint.ErrNotMinimal):
		return nil, fmt.Errorf("%w: frame length: %v", ErrProtocol, err)
	case err != nil:
		return nil, err // io.EOF before a frame, or the stream's error
	}
	if n == 0 || n > MaxFrameSize {
		return nil, fmt.Errorf("%w: frame of %d bytes (want 1..%d)", ErrProtocol, n, MaxFrameSize)
	}
	if admit != nil {
		if err := admit(int(n)); err != nil {
			return nil, err
		}
	}
	body, err := wirebuf.Read(r, int(n), func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return nil, fmt.Errorf("frame body: %w", err)
	}
	return body, nil
}

// WriteFrame writes body as one frame, in one Write.
func WriteFrame(w io.Writer, body []byte) error {
	frame := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(body)), uint64(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// decoder reads fields from a body, keeping the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n, err := varint.FromUvarint(d.b)
	if err != nil {
		d.err = err
		return 0
	}
	d.b = d.b[n:]
	return x
}

// bounded reads a uvarint of at most limit.
func (d *decoder) bounded(limit int) int {
	x := d.uvarint()
	if d.err == nil && x > uint64(limit) {
		d.err = fmt.Errorf("field %d exceeds %d", x, limit)
	}
	return int(min(x, uint64(limit)))
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

// floats reads the rest of the body as float32 little-endian.
func (d *decoder) floats() []float32 {
	if d.err != nil {
		return nil
	}
	if len(d.b)%4 != 0 {
		d.err = fmt.Errorf("%d bytes of float32 values", len(d.b))
		return nil
	}
	f := make([]float32, len(d.b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.b[4*i:]))
	}
	d.b = nil
	return f
}

func appendFloats(b []byte, f []float32) []byte {
	for _, v := range f {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
