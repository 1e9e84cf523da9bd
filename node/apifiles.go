package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files a running daemon writes into the repo, as Kubo does: the
// multiaddr of its RPC API and of its gateway (HTTP: gateway, SDK, web UI).
const (
	APIFile     = "api"
	GatewayFile = "gateway"
)

// WriteAddrFile records a daemon's listen address in dir/name.
func WriteAddrFile(dir, name, addr string) error {
	return writeFileAtomic(filepath.Join(dir, name), []byte(addr+"\n"), 0o600)
}

// RemoveAddrFiles removes the daemon's address files when it stops.
func RemoveAddrFiles(dir string) {
	os.Remove(filepath.Join(dir, APIFile))
	os.Remove(filepath.Join(dir, GatewayFile))
}

// ReadAddrFile reads dir/name written by a running daemon.
func ReadAddrFile(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s has no %s file: is the daemon running (accel daemon)?", dir, name)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// APIToken returns the RPC API token from dir's config (readable by the
// repo's owner only).
func APIToken(dir string) (string, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	return cfg.API.Token, nil
}
