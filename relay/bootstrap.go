package relay

import (
	"encoding/json"
	"net/http"

	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
)

// Bootstrap is what a page needs to dial a host with js-libp2p: its peer
// ID and the listen addresses a browser can use (WebTransport and
// WebRTC-direct with their certificate hashes, WebSocket), each ending in
// /p2p/<peer>.
type Bootstrap struct {
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs"`
}

// browserProtocols are the multiaddr protocols that make an address
// dialable from a browser.
var browserProtocols = []int{ma.P_WEBTRANSPORT, ma.P_WEBRTC_DIRECT, ma.P_WS, ma.P_WSS}

// BootstrapOf returns h's browser-dialable addresses.
func BootstrapOf(h host.Host) Bootstrap {
	id := h.ID()
	suffix := ma.StringCast("/p2p/" + id.String())
	b := Bootstrap{Peer: id.String(), Addrs: []string{}}
	for _, a := range h.Addrs() {
		if browserDialable(a) {
			b.Addrs = append(b.Addrs, a.Encapsulate(suffix).String())
		}
	}
	return b
}

func browserDialable(a ma.Multiaddr) bool {
	for _, p := range browserProtocols {
		if _, err := a.ValueForProtocol(p); err == nil {
			return true
		}
	}
	return false
}

// BootstrapHandler serves h's Bootstrap as JSON to any page, fresh on
// every request (WebTransport certificates rotate). The node mounts it at
// /sdk/bootstrap.json.
func BootstrapHandler(h host.Host) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		json.NewEncoder(w).Encode(BootstrapOf(h))
	})
}
