package offloadwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/internal/alloctest"
	"github.com/ipfs-accelerate/accel/proto/wirebuf"
)

func testRoot(t testing.TB) cid.Cid {
	mh, err := multihash.Sum([]byte("model"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// validMessages has one or more of each message.
func validMessages(t testing.TB) []Message {
	return []Message{
		Open{Root: testRoot(t), From: 2, To: 5, Context: 512},
		Open{Root: testRoot(t), From: 0, To: MaxLayers},
		Opened{Session: 1 << 40, Dim: 64},
		Forward{Pos: 7, N: 2, States: []float32{1, -2, float32(math.Inf(1)), 0.5, 3, 4}},
		Forward{Pos: 0, N: 1, States: []float32{float32(math.NaN())}},
		Hidden{States: []float32{1, 2, 3}},
		Close{}, Closed{},
		Error{"no such model"},
		Tokens{Pos: 3, IDs: []int{1, 0, 300, MaxVocab - 1}},
		Tokens{Pos: MaxContext - 1, IDs: []int{5}},
		Tokens{Pos: 0, IDs: make([]int, MaxPositions)},
		Logits{Values: []float32{-1, 0.25, float32(math.Inf(-1))}},
	}
}

func uvarint(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestRoundTrip(t *testing.T) {
	for _, m := range validMessages(t) {
		body, err := Encode(m)
		if err != nil {
			t.Fatalf("%#v: %v", m, err)
		}
		got, err := Decode(body)
		if err != nil {
			t.Fatalf("%#v: %v", m, err)
		}
		again, _ := Encode(got)
		if !bytes.Equal(again, body) || reflect.TypeOf(got) != reflect.TypeOf(m) {
			t.Fatalf("%#v decodes to %#v", m, got)
		}
	}
	// Floats travel bit for bit.
	in := []float32{math.Float32frombits(0x7fc00001), math.Float32frombits(0x80000000), math.SmallestNonzeroFloat32}
	body, _ := Encode(Hidden{in})
	out, _ := Decode(body)
	for i, v := range out.(Hidden).States {
		if math.Float32bits(v) != math.Float32bits(in[i]) {
			t.Fatalf("value %d: %#x, want %#x", i, math.Float32bits(v), math.Float32bits(in[i]))
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	root := testRoot(t)
	for name, m := range map[string]Message{
		"no root":           Open{From: 0, To: 1},
		"empty range":       Open{Root: root, From: 3, To: 3},
		"negative from":     Open{Root: root, From: -1, To: 3},
		"too many layers":   Open{Root: root, From: 0, To: MaxLayers + 1},
		"huge context":      Open{Root: root, From: 0, To: 1, Context: MaxContext + 1},
		"zero dim":          Opened{Dim: 0},
		"no positions":      Forward{Pos: 0, N: 0, States: []float32{1}},
		"too many":          Forward{Pos: 0, N: MaxPositions + 1, States: make([]float32, MaxPositions+1)},
		"ragged":            Forward{Pos: 0, N: 2, States: []float32{1, 2, 3}},
		"past the context":  Forward{Pos: MaxContext, N: 1, States: []float32{1}},
		"over a frame":      Forward{Pos: 0, N: 4, States: make([]float32, 4*MaxDim)},
		"no hidden":         Hidden{},
		"empty error":       Error{},
		"long error":        Error{strings.Repeat("x", MaxErrorLen+1)},
		"error not UTF-8":   Error{"\xff"},
		"negative position": Forward{Pos: -1, N: 1, States: []float32{1}},
		"no tokens":         Tokens{Pos: 0},
		"too many tokens":   Tokens{Pos: 0, IDs: make([]int, MaxPositions+1)},
		"tokens past":       Tokens{Pos: MaxContext - 1, IDs: []int{1, 2}},
		"tokens before 0":   Tokens{Pos: -1, IDs: []int{1}},
		"id over vocab":     Tokens{Pos: 0, IDs: []int{1, MaxVocab}},
		"negative id":       Tokens{Pos: 0, IDs: []int{-1}},
		"no logits":         Logits{},
		"too many logits":   Logits{Values: make([]float32, MaxVocab+1)},
	} {
		if _, err := Encode(m); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a protocol error", name, err)
		}
	}
	if e := ErrorOf(errors.New(strings.Repeat("é", MaxErrorLen))); e.check() != nil {
		t.Errorf("ErrorOf a long message: %v", e.check())
	}
}

// badBodies are bodies Decode must refuse.
func badBodies(t testing.TB) map[string][]byte {
	root := testRoot(t).Bytes()
	return map[string][]byte{
		"empty":                  {},
		"unknown type":           {0x42},
		"zero type":              {0},
		"open truncated":         {typeOpen, byte(len(root))},
		"open no CID":            cat([]byte{typeOpen, 0}, uvarint(0), uvarint(1), uvarint(0)),
		"open bad CID":           cat([]byte{typeOpen, 3, 0xff, 0xff, 0xff}, uvarint(0), uvarint(1), uvarint(0)),
		"open empty range":       cat([]byte{typeOpen, byte(len(root))}, root, uvarint(4), uvarint(4), uvarint(0)),
		"open huge to":           cat([]byte{typeOpen, byte(len(root))}, root, uvarint(0), uvarint(1<<40), uvarint(0)),
		"open long CID":          cat([]byte{typeOpen}, uvarint(MaxCIDLen+1)),
		"open trailing":          cat([]byte{typeOpen, byte(len(root))}, root, uvarint(0), uvarint(1), uvarint(0), []byte{0}),
		"non-minimal varint":     cat([]byte{typeOpen, 0x80 | byte(len(root)), 0}, root, uvarint(0), uvarint(1), uvarint(0)),
		"opened zero dim":        {typeOpened, 1, 0},
		"forward zero n":         {typeForward, 0, 0},
		"forward many":           cat([]byte{typeForward, 0}, uvarint(MaxPositions+1), make([]byte, 4*(MaxPositions+1))),
		"forward ragged":         {typeForward, 0, 2, 0, 0, 0, 0, 0, 0},
		"forward odd bytes":      {typeForward, 0, 1, 0, 0, 0},
		"forward no states":      {typeForward, 0, 1},
		"hidden empty":           {typeHidden},
		"hidden odd bytes":       {typeHidden, 1, 2},
		"close trailing":         {typeClose, 0},
		"error empty":            {typeError},
		"error not UTF-8":        {typeError, 0xff},
		"varint flood":           append([]byte{typeOpened}, bytes.Repeat([]byte{0xff}, 20)...),
		"tokens non-minimal":     {typeTokens, 0, 1, 0x81, 0x00},
		"tokens non-minimal pos": {typeTokens, 0x80, 0x00, 1, 5},
		"tokens trailing":        {typeTokens, 0, 1, 5, 0},
		"tokens zero n":          {typeTokens, 0, 0},
		"tokens many":            cat([]byte{typeTokens, 0}, uvarint(MaxPositions+1), make([]byte, MaxPositions+1)),
		"tokens short":           {typeTokens, 0, 3, 1, 2},
		"tokens no ids":          {typeTokens, 0, 1},
		"tokens id too big":      cat([]byte{typeTokens, 0, 2, 1}, uvarint(MaxVocab)),
		"tokens huge id":         cat([]byte{typeTokens, 0, 1}, uvarint(1<<62)),
		"tokens past":            cat([]byte{typeTokens}, uvarint(MaxContext-1), []byte{2, 1, 1}),
		"tokens huge pos":        cat([]byte{typeTokens}, uvarint(MaxContext+1), []byte{1, 1}),
		"logits empty":           {typeLogits},
		"logits odd bytes":       {typeLogits, 0, 0, 0, 0, 1},
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, body := range badBodies(t) {
		if m, err := Decode(body); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %#v, %v; want a protocol error", name, m, err)
		}
	}
	// Too large for a fuzz seed.
	if m, err := Decode(append([]byte{typeLogits}, make([]byte, 4*(MaxVocab+1))...)); !errors.Is(err, ErrProtocol) {
		t.Errorf("logits over MaxVocab: %T, %v; want a protocol error", m, err)
	}
}

// Tokens travel id for id, and a Logits of a model's whole vocabulary fits
// in a frame.
func TestTokensAndLogits(t *testing.T) {
	ids := []int{0, 127, 128, 16383, 16384, MaxVocab - 1}
	body, err := Encode(Tokens{Pos: 1 << 19, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	want := cat([]byte{typeTokens}, uvarint(1<<19), uvarint(uint64(len(ids))))
	for _, id := range ids {
		want = append(want, uvarint(uint64(id))...)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("Tokens encode to %x, want %x", body, want)
	}
	m, err := Decode(body)
	if got, ok := m.(Tokens); err != nil || !ok || got.Pos != 1<<19 || !reflect.DeepEqual(got.IDs, ids) {
		t.Fatalf("%x decodes to %#v, %v", body, m, err)
	}
	body, err = Encode(Logits{Values: make([]float32, MaxVocab)})
	if err != nil || len(body) != 1+4*MaxVocab || len(body) > MaxFrameSize {
		t.Fatalf("a Logits of MaxVocab values: %d bytes, %v", len(body), err)
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	for _, body := range [][]byte{{typeClose}, bytes.Repeat([]byte{7}, 300)} {
		if err := WriteFrame(&buf, body); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for _, want := range []int{1, 300} {
		body, err := ReadFrame(r)
		if err != nil || len(body) != want {
			t.Fatalf("frame of %d bytes: %v", len(body), err)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	for name, in := range map[string][]byte{
		"zero length": {0},
		"over max":    uvarint(MaxFrameSize + 1),
		"huge":        uvarint(1 << 60),
		"non-minimal": {0x81, 0x00},
	} {
		if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(in))); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a protocol error", name, err)
		}
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{5, 1}))); err == nil || errors.Is(err, ErrProtocol) || err == io.EOF {
		t.Errorf("a truncated frame: %v, want an unexpected EOF", err)
	}
}

// slack is what decoding may allocate beyond the bytes it holds: error
// messages, a message's fields.
const slack = 4 << 10

func FuzzDecode(f *testing.F) {
	for _, m := range validMessages(f) {
		body, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, body := range badBodies(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m Message
		var err error
		// A message holds no more than its body's bytes.
		if n := alloctest.Allocated(func() { m, err = Decode(body) }); n > uint64(len(body))+slack {
			t.Fatalf("decoding %d bytes allocated %d", len(body), n)
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		// What decodes is valid and re-encodes to the bytes it came from.
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("%#v decoded but does not encode: %v", m, err)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("%x decodes to %#v, which encodes to %x", body, m, again)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, []byte{typeClose})
	f.Add(buf.Bytes())
	f.Add(uvarint(MaxFrameSize + 1))
	f.Add([]byte{0x81, 0x00})
	f.Add([]byte{5, 1})
	f.Add(append(uvarint(MaxFrameSize), 1, 2, 3))
	f.Add(append(uvarint(3*wirebuf.Chunk), make([]byte, wirebuf.Chunk+5)...))
	buf.Reset()
	_ = WriteFrame(&buf, []byte{typeTokens, 0, 2, 1, 0x80, 0x01})
	_ = WriteFrame(&buf, []byte{typeLogits, 0, 0, 0x80, 0x3f})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &alloctest.Reader{R: bytes.NewReader(in)}
		r := bufio.NewReader(src)
		var body []byte
		var err error
		// The body, and the chunks it is gathered in, hold what arrived.
		if n := alloctest.Allocated(func() { body, err = ReadFrame(r) }); n > 2*uint64(src.N+wirebuf.Chunk)+slack {
			t.Fatalf("reading a frame from %d bytes allocated %d", src.N, n)
		}
		if err != nil {
			return
		}
		if len(body) == 0 || len(body) > MaxFrameSize {
			t.Fatalf("a frame of %d bytes", len(body))
		}
		var again bytes.Buffer
		_ = WriteFrame(&again, body)
		if !bytes.HasPrefix(in, again.Bytes()) {
			t.Fatal("re-framing is not a prefix of the input")
		}
	})
}
