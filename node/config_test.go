package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/offload"
)

// A config with a bad value is refused on reading, with an error naming
// the field.
func TestConfigRefusesBadValues(t *testing.T) {
	refused(t, "Datastore.GCPeriod", func(c *Config) { c.Datastore.GCPeriod = "soon" })
	refused(t, "Swarm.ForceReachability", func(c *Config) { c.Swarm.ForceReachability = "sometimes" })
	for _, host := range []string{"http://node.lan", "node.lan:8080", "node.lan/", "*.lan", ""} {
		refused(t, "Gateway.PrivatePagesHosts", func(c *Config) { c.Gateway.PrivatePagesHosts = []string{"node.lan", host} })
	}
	refused(t, "Offload.MaxSessions -1", func(c *Config) { c.Offload.MaxSessions = -1 })
	refused(t, "Offload.MaxKVBytesPerPeer -1", func(c *Config) { c.Offload.MaxKVBytesPerPeer = -1 })
	refused(t, "Offload.MaxStreamsPerPeer 65: it exceeds Offload.MaxStreams (64)", func(c *Config) { c.Offload.MaxStreamsPerPeer = 65 })
	refused(t, "Offload.MaxSessionsPerPeer 17: it exceeds Offload.MaxSessions (16)", func(c *Config) { c.Offload.MaxSessions, c.Offload.MaxSessionsPerPeer = 0, 17 })
}

// accel init writes the offload server's default limits; a config without
// the Offload section, written by an older accel, reads as zero limits,
// which the server takes as its defaults.
func TestConfigOffloadLimits(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, ProfileTest); err != nil {
		t.Fatal(err)
	}
	cfg, err := readConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := offload.DefaultLimits()
	want.FirstRequest, want.IdleTimeout, want.Context, want.Models = 0, 0, 0, 0 // not in the config
	if got := cfg.Offload.Limits(); got != want {
		t.Errorf("a new repo's offload limits are %+v, want the defaults %+v", got, want)
	}

	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "Offload")
	if data, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = readConfig(dir); err != nil {
		t.Fatalf("a config without the Offload section: %v", err)
	}
	if cfg.Offload.Limits() != (offload.Limits{}) {
		t.Errorf("a config without the Offload section has limits %+v", cfg.Offload.Limits())
	}
}

// refused writes a new test repo's config with edit applied and checks
// that reading it fails naming field.
func refused(t *testing.T, field string, edit func(*Config)) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(dir, ProfileTest); err != nil {
		t.Fatal(err)
	}
	cfg, err := readConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if err := writeConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := readConfig(dir); err == nil || !strings.Contains(err.Error(), field) {
		t.Errorf("a bad %s: %v", field, err)
	}
}
