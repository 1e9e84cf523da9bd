package wirebuf

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ipfs-accelerate/accel/internal/alloctest"
)

func TestReadWholeBodies(t *testing.T) {
	for _, n := range []int{0, 1, Chunk - 1, Chunk, Chunk + 1, 3*Chunk + 5} {
		in := make([]byte, n+7)
		for i := range in {
			in[i] = byte(i * 7)
		}
		r := bytes.NewReader(in)
		body, err := Read(r, n, func(k int) []byte { return make([]byte, k) })
		if err != nil || !bytes.Equal(body, in[:n]) {
			t.Fatalf("a body of %d bytes: %d bytes read, equal %v, %v", n, len(body), bytes.Equal(body, in[:n]), err)
		}
		if r.Len() != 7 {
			t.Fatalf("a body of %d bytes: %d bytes left after it, want 7", n, r.Len())
		}
	}
}

// A body announced long and cut short costs about what arrived, and its
// memory is never asked of alloc.
func TestReadShortBody(t *testing.T) {
	for _, sent := range []int{0, 3, Chunk + 3, 5 * Chunk} {
		src := &alloctest.Reader{R: bytes.NewReader(make([]byte, sent))}
		called := false
		var err error
		allocated := alloctest.Allocated(func() {
			_, err = Read(src, 16<<20, func(k int) []byte {
				called = true
				return make([]byte, k)
			})
		})
		if !errors.Is(err, io.ErrUnexpectedEOF) || called {
			t.Fatalf("%d of 16 MiB sent: %v, alloc called %v; want io.ErrUnexpectedEOF without alloc", sent, err, called)
		}
		if limit := uint64(src.N + 2*Chunk); allocated > limit {
			t.Fatalf("%d of 16 MiB sent: %d bytes allocated, want at most %d", sent, allocated, limit)
		}
	}
}
