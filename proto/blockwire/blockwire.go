// Package blockwire is the codec of the bulk block-transfer protocol
// (/accel/blocks/1.0.0), which moves many blocks from a few providers at
// wire speed, where bitswap pays one round trip per block. Package
// transfer is its go-libp2p server and fetcher.
//
// Decoding never panics on hostile input, checks a request's count and a
// CID's or a block's length against the limits, and commits memory only
// as the bytes arrive: never more than what the peer sent plus a constant.
//
// # Wire format
//
// A client opens one stream per provider and writes requests; it may write
// the next request before the previous answer arrived (pipelining), so the
// provider never idles. A request is
//
//	uvarint count (1..MaxRequestCIDs)
//	count × { uvarint len (1..MaxCIDLen), len bytes of binary CID }
//
// The server answers each request in order, one response per CID, in the
// order the CIDs were asked:
//
//	byte status: 1 = have, 0 = don't have
//	if have: uvarint len (0..MaxBlockSize), len bytes of block data
//
// All varints are unsigned LEB128 in minimal form (multiformats uvarint).
// When the client has nothing more to ask it closes its write side; the
// server finishes the answers and closes the stream. A request that breaks
// the limits gets the stream reset. Nothing in the protocol is trusted: the
// client checks every block against its CID before storing it.
package blockwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"github.com/ipfs-accelerate/accel/proto/wirebuf"
)

// ProtocolID is the libp2p protocol the messages travel on.
const ProtocolID = "/accel/blocks/1.0.0"

// Limits of the wire format. Messages over them are protocol errors.
const (
	MaxRequestCIDs = 1024    // CIDs in one request
	MaxCIDLen      = 128     // bytes of one binary CID
	MaxBlockSize   = 2 << 20 // bytes of one block: IPFS's limit (bitswap's, and the repo's)
)

// requestCap is the capacity a request's list of CIDs starts with: the
// fetcher's usual batch.
const requestCap = 16

// Response status bytes.
const (
	statusDontHave byte = 0
	statusHave     byte = 1
)

// ErrProtocol marks a message that breaks the wire format.
var ErrProtocol = errors.New("transfer: protocol violation")

// AppendRequest appends the encoding of a request for cids to buf.
func AppendRequest(buf []byte, cids []cid.Cid) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(cids)))
	for _, c := range cids {
		b := c.Bytes()
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	return buf
}

// ReadRequest decodes one request. It returns io.EOF when r ends cleanly
// before a request starts; the list of CIDs grows as they arrive.
func ReadRequest(r *bufio.Reader) ([]cid.Cid, error) {
	n, err := varint.ReadUvarint(r)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: request count: %v", ErrProtocol, err)
	}
	if n == 0 || n > MaxRequestCIDs {
		return nil, fmt.Errorf("%w: request of %d CIDs (want 1..%d)", ErrProtocol, n, MaxRequestCIDs)
	}
	cids := make([]cid.Cid, 0, min(n, requestCap))
	var buf [MaxCIDLen]byte
	for range n {
		l, err := varint.ReadUvarint(r)
		if err != nil {
			return nil, fmt.Errorf("%w: CID length: %v", ErrProtocol, noEOF(err))
		}
		if l == 0 || l > MaxCIDLen {
			return nil, fmt.Errorf("%w: CID of %d bytes (want 1..%d)", ErrProtocol, l, MaxCIDLen)
		}
		if _, err := io.ReadFull(r, buf[:l]); err != nil {
			return nil, fmt.Errorf("%w: CID: %v", ErrProtocol, noEOF(err))
		}
		c, err := cid.Cast(buf[:l])
		if err != nil {
			return nil, fmt.Errorf("%w: CID: %v", ErrProtocol, err)
		}
		cids = append(cids, c)
	}
	return cids, nil
}

// AppendResponseHeader appends the status and, for a block, its length.
func AppendResponseHeader(buf []byte, data []byte, have bool) []byte {
	if !have {
		return append(buf, statusDontHave)
	}
	buf = append(buf, statusHave)
	return binary.AppendUvarint(buf, uint64(len(data)))
}

// ReadResponse decodes the answer for one CID: the block data, in memory
// from alloc, or nil and false when the server does not have it. It
// returns io.EOF when r ends cleanly before a response starts, and checks
// the length against MaxBlockSize. A block over wirebuf.Chunk is gathered
// as it arrives, and alloc called once the block is whole (see
// wirebuf.Read).
func ReadResponse(r *bufio.Reader, alloc func(n int) []byte) (data []byte, have bool, err error) {
	status, err := r.ReadByte()
	if err != nil {
		return nil, false, err
	}
	switch status {
	case statusDontHave:
		return nil, false, nil
	case statusHave:
	default:
		return nil, false, fmt.Errorf("%w: status byte %#x", ErrProtocol, status)
	}
	n, err := varint.ReadUvarint(r)
	if err != nil {
		return nil, false, fmt.Errorf("block length: %w", noEOF(err))
	}
	if n > MaxBlockSize {
		return nil, false, fmt.Errorf("%w: block of %d bytes (max %d)", ErrProtocol, n, MaxBlockSize)
	}
	if data, err = wirebuf.Read(r, int(n), alloc); err != nil {
		return nil, false, fmt.Errorf("block data: %w", err)
	}
	return data, true, nil
}

// noEOF turns io.EOF inside a message into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
