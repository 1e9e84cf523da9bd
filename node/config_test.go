package node

import (
	"strings"
	"testing"
)

// A config with a bad value is refused on reading, with an error naming
// the field.
func TestConfigRefusesBadValues(t *testing.T) {
	refused(t, "Datastore.GCPeriod", func(c *Config) { c.Datastore.GCPeriod = "soon" })
	refused(t, "Swarm.ForceReachability", func(c *Config) { c.Swarm.ForceReachability = "sometimes" })
	for _, host := range []string{"http://node.lan", "node.lan:8080", "node.lan/", "*.lan", ""} {
		refused(t, "Gateway.PrivatePagesHosts", func(c *Config) { c.Gateway.PrivatePagesHosts = []string{"node.lan", host} })
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
