package blockwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/internal/alloctest"
	"github.com/ipfs-accelerate/accel/proto/wirebuf"
)

func TestRequestRoundTrip(t *testing.T) {
	cids := testCIDs(t, 3)
	v0, _ := cid.Decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	cids = append(cids, v0)
	r := bufio.NewReader(bytes.NewReader(AppendRequest(nil, cids)))
	got, err := ReadRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cids) {
		t.Fatalf("got %d CIDs, want %d", len(got), len(cids))
	}
	for i := range cids {
		if got[i] != cids[i] {
			t.Errorf("CID %d: got %s, want %s", i, got[i], cids[i])
		}
	}
	if _, err := ReadRequest(r); err != io.EOF {
		t.Errorf("after the last request: got %v, want io.EOF", err)
	}
}

// testCIDs makes n distinct CIDv1 raw sha2-256 CIDs.
func testCIDs(tb testing.TB, n int) []cid.Cid {
	cids := make([]cid.Cid, n)
	for i := range cids {
		mh, err := multihash.Sum([]byte{byte(i)}, multihash.SHA2_256, -1)
		if err != nil {
			tb.Fatal(err)
		}
		cids[i] = cid.NewCidV1(cid.Raw, mh)
	}
	return cids
}

func newBuffer(n int) []byte { return make([]byte, n) }

func uvarint(x uint64) []byte { return binary.AppendUvarint(nil, x) }

// badRequests are requests the server must refuse.
var badRequests = map[string][]byte{
	"garbage":        bytes.Repeat([]byte{0xff}, 64),
	"zero count":     {0},
	"huge count":     uvarint(1 << 40),
	"count over max": uvarint(MaxRequestCIDs + 1),
	"huge CID len":   append(uvarint(1), uvarint(1<<30)...),
	"CID len 0":      {1, 0},
	"not a CID":      {1, 3, 0xff, 0xff, 0xff},
	"short CID":      {1, 36, 1, 0x55},
	"non-minimal":    {0x81, 0x00},
	"truncated":      {2},
}

func TestReadRequestRejects(t *testing.T) {
	for name, req := range badRequests {
		_, err := ReadRequest(bufio.NewReader(bytes.NewReader(req)))
		if err == nil || err == io.EOF {
			t.Errorf("%s: got %v, want an error", name, err)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	data := []byte("hello block")
	var buf []byte
	buf = append(AppendResponseHeader(buf, data, true), data...)
	buf = AppendResponseHeader(buf, nil, false)
	buf = AppendResponseHeader(buf, nil, true) // an empty block
	r := bufio.NewReader(bytes.NewReader(buf))
	for i, want := range []struct {
		data string
		have bool
	}{{"hello block", true}, {"", false}, {"", true}} {
		got, have, err := ReadResponse(r, newBuffer)
		if err != nil || have != want.have || string(got) != want.data {
			t.Errorf("response %d: got %q %v %v, want %q %v", i, got, have, err, want.data, want.have)
		}
	}
}

func TestReadResponseRejects(t *testing.T) {
	for name, resp := range map[string][]byte{
		"bad status":   {7},
		"huge block":   append([]byte{statusHave}, uvarint(1<<40)...),
		"over max":     append([]byte{statusHave}, uvarint(MaxBlockSize+1)...),
		"truncated":    {statusHave, 10, 1, 2},
		"no length":    {statusHave},
		"non-minimal":  {statusHave, 0x80, 0x00},
		"varint flood": append([]byte{statusHave}, bytes.Repeat([]byte{0xff}, 20)...),
	} {
		_, _, err := ReadResponse(bufio.NewReader(bytes.NewReader(resp)), newBuffer)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, _, err := ReadResponse(bufio.NewReader(bytes.NewReader(nil)), newBuffer); err != io.EOF {
		t.Errorf("empty: got %v, want io.EOF", err)
	}
}

// What decoding may allocate beyond the bytes it was given: error messages
// (slack), and for each byte of a request a share of a CID and of its slot
// in the list (perCID; the smallest CID is 5 bytes on the wire, 16 in the
// list, in a list whose growth allocates up to four times its length).
const (
	slack  = 4 << 10
	perCID = 16
)

func FuzzReadRequest(f *testing.F) {
	cids := testCIDs(f, 3)
	f.Add(AppendRequest(nil, cids))
	f.Add(AppendRequest(nil, cids[:1]))
	for _, req := range badRequests {
		f.Add(req)
	}
	f.Add(uvarint(MaxRequestCIDs))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &alloctest.Reader{R: bytes.NewReader(in)}
		r := bufio.NewReader(src)
		var got []cid.Cid
		var err error
		// Each CID arrived: a CID costs its bytes and a slot in the list.
		if n := alloctest.Allocated(func() { got, err = ReadRequest(r) }); n > perCID*uint64(src.N)+slack {
			t.Fatalf("reading a request from %d bytes allocated %d", src.N, n)
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		if len(got) == 0 || len(got) > MaxRequestCIDs {
			t.Fatalf("decoded %d CIDs", len(got))
		}
		// What decodes re-encodes to the bytes it came from.
		enc := AppendRequest(nil, got)
		if !bytes.HasPrefix(in, enc) {
			t.Fatalf("re-encoding %x is not a prefix of %x", enc, in)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	data := []byte("block")
	f.Add(append(AppendResponseHeader(nil, data, true), data...))
	f.Add(AppendResponseHeader(nil, nil, false))
	f.Add(append([]byte{statusHave}, uvarint(1<<40)...))
	f.Add([]byte{statusHave, 0x80, 0x00})
	f.Add(append(append([]byte{statusHave}, uvarint(MaxBlockSize)...), 1, 2, 3))
	f.Add(append(append([]byte{statusHave}, uvarint(3*wirebuf.Chunk)...), make([]byte, wirebuf.Chunk+5)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &alloctest.Reader{R: bytes.NewReader(in)}
		r := bufio.NewReader(src)
		// alloc is asked for a block's memory only once no more than a
		// chunk of it is to come.
		alloc := func(n int) []byte {
			if n > src.N+wirebuf.Chunk {
				t.Fatalf("asked for %d bytes with %d delivered", n, src.N)
			}
			return make([]byte, n)
		}
		var got []byte
		var have bool
		var err error
		// The block, and the chunks it is gathered in, hold what arrived.
		if n := alloctest.Allocated(func() { got, have, err = ReadResponse(r, alloc) }); n > 2*uint64(src.N+wirebuf.Chunk)+slack {
			t.Fatalf("reading a response from %d bytes allocated %d", src.N, n)
		}
		if err != nil {
			return
		}
		if len(got) > MaxBlockSize || (!have && got != nil) {
			t.Fatalf("decoded %d bytes, have %v", len(got), have)
		}
		if have {
			enc := append(AppendResponseHeader(nil, got, true), got...)
			if !bytes.HasPrefix(in, enc) {
				t.Fatalf("re-encoding is not a prefix of the input")
			}
		}
	})
}
