// Package wirebuf reads the bodies that peers announce on the wire without
// trusting the announcement: memory is committed as the bytes arrive, so a
// peer that announces a large body and sends little of it costs little.
// The codecs in package proto read every length-prefixed body through it.
package wirebuf

import (
	"io"
	"sync"
)

// Chunk is the most memory Read commits beyond the bytes that arrived.
// It is larger than the buffers of the readers the codecs read from, so
// that gathering a body reads straight past them.
const Chunk = 256 << 10

// chunks are the buffers a long body is gathered in until it is nearly
// whole.
var chunks = sync.Pool{New: func() any {
	b := make([]byte, Chunk)
	return &b
}}

// Read reads a body of n bytes from r into memory that alloc(n) returns,
// and returns it. alloc is called once no more than Chunk bytes of the
// body are still to come: a longer body's first bytes are gathered in
// pooled chunks as they arrive and copied over then. The memory Read
// commits thus never exceeds the bytes r delivered plus Chunk. When r
// ends early, Read returns io.ErrUnexpectedEOF; other errors are r's.
func Read(r io.Reader, n int, alloc func(n int) []byte) ([]byte, error) {
	var got []*[]byte
	defer func() {
		for _, c := range got {
			chunks.Put(c)
		}
	}()
	for left := n; left > Chunk; left -= Chunk {
		c := chunks.Get().(*[]byte)
		got = append(got, c)
		if _, err := io.ReadFull(r, *c); err != nil {
			return nil, noEOF(err)
		}
	}
	body := alloc(n)
	for i, c := range got {
		copy(body[i*Chunk:], *c)
	}
	if _, err := io.ReadFull(r, body[len(got)*Chunk:]); err != nil {
		return nil, noEOF(err)
	}
	return body, nil
}

// noEOF turns io.EOF inside a body into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
