package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs-accelerate/accel/offload"
	"github.com/ipfs-accelerate/accel/relay"
)

// ConfigFile is the name of the repo's configuration file.
const ConfigFile = "config"

// Profiles that Init accepts.
const (
	ProfileDefault = "default"
	ProfileTest    = "test" // loopback only, random ports, no bootstrap, no mDNS, no relay service
)

// Defaults of a new repo: the disk budget of its blocks and the daemon's
// in-memory hot cache.
const (
	DefaultStorageMax = 10 << 30
	DefaultHotCache   = 64 << 20
)

// Config is the repo's configuration, a JSON file laid out like Kubo's.
// The offline commands use Identity and Datastore; the daemon reads the
// rest.
type Config struct {
	Identity  Identity
	Profile   string
	Addresses Addresses
	Bootstrap []string // multiaddrs with /p2p/ of the peers to join through
	Discovery Discovery
	Peering   Peering
	Swarm     Swarm
	API       APIConfig
	Gateway   GatewayConfig
	Datastore DatastoreConfig
	Offload   OffloadConfig
}

// Peering lists static peers: the daemon stays connected to them,
// redialling when a connection drops, and the connection manager never
// trims them.
type Peering struct {
	Peers []string // multiaddrs with /p2p/
}

// APIConfig secures the RPC API.
type APIConfig struct {
	// Token is the bearer token the RPC API demands when it listens
	// beyond loopback; the CLI reads it from this file.
	Token string
}

// GatewayConfig configures the gateway's HTTP service.
type GatewayConfig struct {
	// PrivatePagesHosts are the host names or IP addresses, besides
	// loopback (127.0.0.0/8, ::1, localhost), under which the gateway
	// serves its private pages (the web UI, the dashboard and its stats,
	// the metrics) to any port; other hosts get 403, so that a page on a
	// DNS name rebound to this machine cannot read them. Empty by default.
	PrivatePagesHosts []string `json:",omitempty"`
	// ServeInference serves the inference API (/v1/ and /api/stream) on
	// the gateway too, to every client and host without the API token, as
	// an endpoint for others; web pages are still refused. Off by
	// default: the API listener serves it.
	ServeInference bool `json:",omitempty"`
}

// Addresses are the daemon's listen multiaddrs.
type Addresses struct {
	Swarm   []string // libp2p transports
	API     string   // HTTP RPC API
	Gateway string   // trustless gateway, SDK and web UI
}

// Discovery configures local peer discovery.
type Discovery struct {
	MDNS struct{ Enabled bool }
}

// Swarm configures the libp2p host's services.
type Swarm struct {
	// RelayService serves circuit relay v2 to other peers once the node
	// knows it is publicly reachable.
	RelayService bool
	// ForceReachability overrides AutoNAT's finding (Kubo's
	// Internal.Libp2pForceReachability): "public" or "private"; empty
	// leaves it to AutoNAT.
	ForceReachability string `json:",omitempty"`
}

// DatastoreConfig describes the repo's storage.
type DatastoreConfig struct {
	// StorageMax is the disk budget of the blocks, in bytes, that
	// garbage collection keeps unpinned blocks under.
	StorageMax int64
	// Spec records the layout: flatfs for blocks, leveldb for the rest.
	Spec string
	// HotCache is the byte budget of the daemon's in-memory block cache.
	HotCache int64
	// GCPeriod is how often the daemon trims unpinned blocks to
	// StorageMax, as a Go duration ("1h", like Kubo's Datastore.GCPeriod);
	// "0" never. Blocks the gateway fetches for its callers are not
	// pinned, and nothing else removes them between adds and pins.
	GCPeriod string `json:",omitempty"`
}

// OffloadConfig bounds what the offload server takes on for peers that
// run layers on this node, in total and for each peer (at the defaults,
// four peers can each take their share at once). A zero field, or a
// config without the section, takes the default (offload.DefaultLimits);
// a per-peer limit may not exceed its total.
type OffloadConfig struct {
	MaxSessions        int   // sessions at once
	MaxSessionsPerPeer int   // sessions of one peer
	MaxKVBytes         int64 // KV caches of all sessions, reserved at Open
	MaxKVBytesPerPeer  int64 // KV caches of one peer's sessions
	MaxStreams         int   // offload streams at once, sessions included
	MaxStreamsPerPeer  int   // offload streams of one peer
	// MaxInFlightBytes bounds the requests being read or answered, by the
	// lengths their frames announce.
	MaxInFlightBytes        int64
	MaxInFlightBytesPerPeer int64 // requests of one peer
}

// newOffloadConfig is the section a new repo's config holds: the
// defaults, written out.
func newOffloadConfig() OffloadConfig {
	l := offload.DefaultLimits()
	return OffloadConfig{
		MaxSessions: l.Sessions, MaxSessionsPerPeer: l.SessionsPerPeer,
		MaxKVBytes: l.KVBytes, MaxKVBytesPerPeer: l.KVBytesPerPeer,
		MaxStreams: l.Streams, MaxStreamsPerPeer: l.StreamsPerPeer,
		MaxInFlightBytes: l.InFlight, MaxInFlightBytesPerPeer: l.InFlightPerPeer,
	}
}

// Limits are the offload server's limits; fields left zero take the
// server's defaults.
func (o OffloadConfig) Limits() offload.Limits {
	return offload.Limits{
		Sessions: o.MaxSessions, SessionsPerPeer: o.MaxSessionsPerPeer,
		KVBytes: o.MaxKVBytes, KVBytesPerPeer: o.MaxKVBytesPerPeer,
		Streams: o.MaxStreams, StreamsPerPeer: o.MaxStreamsPerPeer,
		InFlight: o.MaxInFlightBytes, InFlightPerPeer: o.MaxInFlightBytesPerPeer,
	}
}

// check refuses negative limits and a per-peer limit over its total.
func (o OffloadConfig) check() error {
	d := offload.DefaultLimits()
	for _, l := range []struct {
		name           string
		total, perPeer int64
		defaultTotal   int64
	}{
		{"MaxSessions", int64(o.MaxSessions), int64(o.MaxSessionsPerPeer), int64(d.Sessions)},
		{"MaxKVBytes", o.MaxKVBytes, o.MaxKVBytesPerPeer, d.KVBytes},
		{"MaxStreams", int64(o.MaxStreams), int64(o.MaxStreamsPerPeer), int64(d.Streams)},
		{"MaxInFlightBytes", o.MaxInFlightBytes, o.MaxInFlightBytesPerPeer, d.InFlight},
	} {
		total := l.total
		if total == 0 {
			total = l.defaultTotal
		}
		switch {
		case l.total < 0:
			return fmt.Errorf("bad Offload.%s %d: want a positive limit, or 0 for the default", l.name, l.total)
		case l.perPeer < 0:
			return fmt.Errorf("bad Offload.%sPerPeer %d: want a positive limit, or 0 for the default", l.name, l.perPeer)
		case l.perPeer > total:
			return fmt.Errorf("bad Offload.%sPerPeer %d: it exceeds Offload.%s (%d)", l.name, l.perPeer, l.name, total)
		}
	}
	return nil
}

// DefaultGCPeriod is GCPeriod when the config leaves it empty.
const DefaultGCPeriod = time.Hour

// gcPeriod parses GCPeriod.
func (d DatastoreConfig) gcPeriod() (time.Duration, error) {
	if d.GCPeriod == "" {
		return DefaultGCPeriod, nil
	}
	p, err := time.ParseDuration(d.GCPeriod)
	if err != nil || p < 0 {
		return 0, fmt.Errorf("bad Datastore.GCPeriod %q: want a duration such as \"1h\", or \"0\" for never", d.GCPeriod)
	}
	return p, nil
}

// datastoreSpec names the layout Open expects.
const datastoreSpec = "/blocks: flatfs next-to-last/2, synced before each pin; /: leveldb"

// defaultBootstrap is the public IPFS bootstrap list (Kubo's).
var defaultBootstrap = []string{
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
}

// NewConfig returns the configuration of a new repo with the given
// profile and identity.
func NewConfig(profile string, id Identity) (*Config, error) {
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	c := &Config{
		Identity:  id,
		Profile:   profile,
		API:       APIConfig{Token: hex.EncodeToString(token)},
		Datastore: DatastoreConfig{StorageMax: DefaultStorageMax, HotCache: DefaultHotCache, Spec: datastoreSpec, GCPeriod: DefaultGCPeriod.String()},
		Offload:   newOffloadConfig(),
	}
	switch profile {
	case ProfileDefault, "":
		c.Profile = ProfileDefault
		c.Addresses = Addresses{
			Swarm: []string{
				"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001",
				"/ip4/0.0.0.0/udp/4001/quic-v1", "/ip6/::/udp/4001/quic-v1",
				"/ip4/0.0.0.0/udp/4001/quic-v1/webtransport", "/ip6/::/udp/4001/quic-v1/webtransport",
				"/ip4/0.0.0.0/udp/4001/webrtc-direct", "/ip6/::/udp/4001/webrtc-direct",
				"/ip4/0.0.0.0/tcp/4002/ws",
			},
			API:     "/ip4/127.0.0.1/tcp/5001",
			Gateway: "/ip4/127.0.0.1/tcp/8080",
		}
		c.Bootstrap = defaultBootstrap
		c.Discovery.MDNS.Enabled = true
		c.Swarm.RelayService = true
	case ProfileTest:
		c.Addresses = Addresses{
			Swarm: []string{
				"/ip4/127.0.0.1/tcp/0",
				"/ip4/127.0.0.1/udp/0/quic-v1",
				"/ip4/127.0.0.1/udp/0/quic-v1/webtransport",
				"/ip4/127.0.0.1/udp/0/webrtc-direct",
				"/ip4/127.0.0.1/tcp/0/ws",
			},
			API:     "/ip4/127.0.0.1/tcp/0",
			Gateway: "/ip4/127.0.0.1/tcp/0",
		}
		c.Bootstrap = []string{}
	default:
		return nil, fmt.Errorf("unknown profile %q (have %q and %q)", profile, ProfileDefault, ProfileTest)
	}
	return c, nil
}

// readConfig reads dir's configuration.
func readConfig(dir string) (*Config, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("repo config %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if _, err := c.Datastore.gcPeriod(); err != nil {
		return nil, fmt.Errorf("repo config %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if err := relay.CheckReachability(c.Swarm.ForceReachability); err != nil {
		return nil, fmt.Errorf("repo config %s: Swarm.ForceReachability: %w", filepath.Join(dir, ConfigFile), err)
	}
	if err := checkHosts(c.Gateway.PrivatePagesHosts); err != nil {
		return nil, fmt.Errorf("repo config %s: Gateway.PrivatePagesHosts: %w", filepath.Join(dir, ConfigFile), err)
	}
	if err := c.Offload.check(); err != nil {
		return nil, fmt.Errorf("repo config %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if c.Datastore.Spec != datastoreSpec {
		return nil, fmt.Errorf("repo config %s: datastore %q, this accel reads %q", filepath.Join(dir, ConfigFile), c.Datastore.Spec, datastoreSpec)
	}
	return &c, nil
}

// writeConfig replaces dir's configuration atomically: a crash leaves the
// old file or the new one, never a torn one.
func writeConfig(dir string, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ConfigFile), append(data, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it,
// renames it over path and syncs the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
