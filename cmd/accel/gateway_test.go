package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/browser"
)

// The gateway's private pages — the playground, the dashboard and its
// stats, the metrics — answer only requests for a loopback host or one in
// Gateway.PrivatePagesHosts, so that a page on a DNS name rebound to the
// node cannot read them; blocks and the SDK answer any host.
func TestPrivatePagesAnswerOnlyTheirHosts(t *testing.T) {
	needModels(t)
	sdk := t.TempDir() // an SDK of the files the pages serve
	for name, content := range map[string]string{"accel.wasm": "wasm", "ui/index.html": "the playground", "ui/dashboard.html": "the dashboard"} {
		os.MkdirAll(filepath.Join(sdk, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(sdk, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(browser.EnvSDKDir, sdk)
	repo := newRepo(t)
	setConfig(t, repo, func(c map[string]any) {
		c["Gateway"] = map[string]any{"PrivatePagesHosts": []string{"node.lan"}}
	})
	root := addStories(t, repo)
	d := startDaemon(t, repo)
	port := d.Gateway[strings.LastIndex(d.Gateway, ":")+1:]

	// served checks what each page answers when it is served.
	served := map[string]func(status int, body string) bool{
		"/":                func(status int, body string) bool { return status == 200 && body == "the playground" },
		"/dashboard":       func(status int, body string) bool { return status == 200 && body == "the dashboard" },
		"/dashboard/stats": func(status int, body string) bool { return status == 200 && strings.Contains(body, root) },
		"/metrics":         func(status int, body string) bool { return status == 200 && strings.Contains(body, "accel_peers") },
	}
	public := map[string]func(status int, body string) bool{
		"/ipfs/" + root + "?format=raw": func(status int, body string) bool { return status == 200 && len(body) > 0 },
		"/sdk/bootstrap.json":           func(status int, body string) bool { return status == 200 && strings.Contains(body, d.ID) },
	}
	for _, host := range []string{"127.0.0.1:" + port, "127.0.0.1", "127.8.9.10:" + port, "localhost:" + port, "LocalHost", "[::1]:" + port, "[::1]", "node.lan:" + port, "Node.LAN"} {
		for path, ok := range served {
			if status, body := getHost(t, d.Gateway+path, host); !ok(status, body) {
				t.Errorf("GET %s for Host %s: %d %.200s", path, host, status, body)
			}
		}
	}
	for _, host := range []string{"evil.com", "evil.com:" + port, "localhost.evil.com:" + port, "127.0.0.1.evil.com", "node.lan.evil.com"} {
		for path := range served {
			status, body := getHost(t, d.Gateway+path, host)
			if status != http.StatusForbidden || !strings.Contains(body, "private") || !strings.Contains(body, "Gateway.PrivatePagesHosts") || !strings.Contains(body, host) {
				t.Errorf("GET %s for Host %s: %d %.200s, want 403 saying how to allow the host", path, host, status, body)
			}
		}
		for path, ok := range public {
			if status, body := getHost(t, d.Gateway+path, host); !ok(status, body) {
				t.Errorf("GET %s for Host %s: %d %.200s", path, host, status, body)
			}
		}
	}
}

// getHost GETs rawURL with the Host header host and returns the status
// and the body.
func getHost(t *testing.T, rawURL, host string) (int, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Host: host, Header: http.Header{}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
