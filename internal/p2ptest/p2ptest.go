// Package p2ptest makes the libp2p hosts tests talk over: real hosts on
// 127.0.0.1 with random ports, closed when the test ends.
package p2ptest

import (
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
)

// NewHost starts a libp2p host listening on a random loopback TCP port,
// with opts added.
func NewHost(tb testing.TB, opts ...libp2p.Option) host.Host {
	tb.Helper()
	h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}
