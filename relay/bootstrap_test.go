package relay

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

func TestBrowserDialable(t *testing.T) {
	const id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	for addr, want := range map[string]bool{
		"/ip4/1.2.3.4/tcp/4001":                            false,
		"/ip6/::1/udp/4001/quic-v1":                        false,
		"/ip4/1.2.3.4/tcp/4001/p2p/" + id + "/p2p-circuit": false,
		"/ip4/1.2.3.4/udp/4001/quic-v1/webtransport":       true,
		"/ip4/1.2.3.4/udp/4001/webrtc-direct":              true,
		"/ip4/1.2.3.4/tcp/4002/ws":                         true,
		"/dns4/example.com/tcp/443/wss":                    true,
		"/ip4/1.2.3.4/tcp/4002/ws/p2p/" + id:               true,
	} {
		if got := browserDialable(ma.StringCast(addr)); got != want {
			t.Errorf("%s: dialable %v, want %v", addr, got, want)
		}
	}
}

// The handler serves, to any page and uncached, the host's WebSocket
// address with its peer ID, and not its plain TCP one.
func TestBootstrapHandler(t *testing.T) {
	h := p2ptest.NewHost(t, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0/ws"))
	w := httptest.NewRecorder()
	BootstrapHandler(h).ServeHTTP(w, httptest.NewRequest("GET", "/sdk/bootstrap.json", nil))
	for name, want := range map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "no-store",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	var got Bootstrap
	if err := json.NewDecoder(w.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Peer != h.ID().String() || len(got.Addrs) != 1 ||
		!strings.Contains(got.Addrs[0], "/ws/p2p/"+h.ID().String()) {
		t.Fatalf("bootstrap %+v for a host on %v", got, h.Addrs())
	}
	if want := BootstrapOf(h); !reflect.DeepEqual(got, want) {
		t.Errorf("served %+v, BootstrapOf gives %+v", got, want)
	}
}
