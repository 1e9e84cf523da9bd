// Package relay makes a node reachable for browsers and for peers behind
// NAT: Options gives the libp2p host the circuit relay v2 service and the
// reachability settings (AutoNAT's finding or a forced one, port mapping,
// hole punching), and Bootstrap lists the addresses a browser can dial it
// on, which BootstrapHandler serves to pages.
//
// It guarantees that a reachability setting it does not know is refused,
// never ignored, and that Bootstrap lists only addresses a browser can
// dial, each ending in the host's /p2p/ component.
package relay

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
)

// Config is what makes a host reachable.
type Config struct {
	// Service serves circuit relay v2 to other peers; libp2p runs it
	// while the host is publicly reachable.
	Service bool
	// ForceReachability overrides AutoNAT's finding: "public" or
	// "private"; empty leaves it to AutoNAT.
	ForceReachability string
	// NAT maps the listen ports on the router (UPnP, NAT-PMP) and punches
	// holes to peers behind NAT.
	NAT bool
}

// CheckReachability refuses a ForceReachability other than "", "public"
// and "private".
func CheckReachability(force string) error {
	switch force {
	case "", "public", "private":
		return nil
	}
	return fmt.Errorf("reachability %q: want \"public\", \"private\" or \"\" (AutoNAT decides)", force)
}

// Options returns the libp2p options that c describes, or an error when
// its ForceReachability is unknown.
func Options(c Config) ([]libp2p.Option, error) {
	if err := CheckReachability(c.ForceReachability); err != nil {
		return nil, err
	}
	var opts []libp2p.Option
	if c.Service {
		opts = append(opts, libp2p.EnableRelayService())
	}
	switch c.ForceReachability {
	case "public":
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case "private":
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if c.NAT {
		opts = append(opts, libp2p.NATPortMap(), libp2p.EnableHolePunching())
	}
	return opts, nil
}
