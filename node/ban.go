package node

import (
	"log"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// banTime is how long a peer that served a block not matching its CID
// stays disconnected.
const banTime = time.Hour

// banlist is a connection gater that refuses peers for banTime after they
// served bad blocks.
type banlist struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

func newBanlist() *banlist { return &banlist{until: map[peer.ID]time.Time{}} }

// has reports whether p is banned now.
func (b *banlist) has(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[p]
	if ok && time.Now().After(t) {
		delete(b.until, p)
		return false
	}
	return ok
}

func (b *banlist) add(p peer.ID) {
	b.mu.Lock()
	b.until[p] = time.Now().Add(banTime)
	b.mu.Unlock()
}

func (b *banlist) InterceptPeerDial(p peer.ID) bool                 { return !b.has(p) }
func (b *banlist) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !b.has(p) }
func (b *banlist) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (b *banlist) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.has(p)
}
func (b *banlist) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// ban disconnects p, which served a block that did not match its CID, and
// refuses it for banTime.
func (n *Node) ban(p peer.ID, why error) {
	log.Printf("banning peer %s for %s: %v", p, banTime, why)
	n.bans.add(p)
	n.Host.Network().ClosePeer(p) //nolint:errcheck // the gater keeps it out either way
}

// banned reports whether p is banned.
func (n *Node) banned(p peer.ID) bool { return n.bans != nil && n.bans.has(p) }
