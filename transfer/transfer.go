// Package transfer is the bulk block-transfer service: a Server that
// serves blocks from a blockstore and a Fetcher that downloads them from
// a few providers at once, both over go-libp2p streams speaking the
// protocol of package proto/blockwire (/accel/blocks/1.0.0). Fetched
// blocks are checked against their CIDs before they are stored.
package transfer

import (
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/proto/blockwire"
)

// Supports reports whether the peerstore knows p speaks
// blockwire.ProtocolID. It is known once identify has run on a connection
// to p; peers that do not speak it (Kubo, browsers) should be fetched from
// with bitswap.
func Supports(h host.Host, p peer.ID) bool {
	ps, err := h.Peerstore().SupportsProtocols(p, blockwire.ProtocolID)
	return err == nil && len(ps) > 0
}
