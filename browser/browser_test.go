package browser

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve answers one GET of path by Handler.
func serve(path string) (*http.Response, string) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// An SDK directory is served with the headers of cross-origin isolation;
// one without the runtime is refused with a page that says how to build
// it.
func TestSDKDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvSDKDir, dir)
	if _, err := Files(); err == nil || !strings.Contains(err.Error(), "scripts/build-sdk.sh "+dir) {
		t.Errorf("Files of an empty %s: %v", EnvSDKDir, err)
	}
	if resp, body := serve("/accel.wasm"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "scripts/build-sdk.sh "+dir) {
		t.Errorf("an empty %s: %s %q", EnvSDKDir, resp.Status, body)
	}

	if err := os.WriteFile(filepath.Join(dir, runtimeFile), []byte("runtime"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := serve("/accel.wasm")
	if resp.StatusCode != 200 || body != "runtime" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" || resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
		t.Errorf("the runtime: %s %q, headers %v", resp.Status, body, resp.Header)
	}
}

// Without $ACCEL_SDK_DIR the embedded SDK is served where `make sdk` built
// it before the binary; else every request is refused with
// ErrNotEmbedded's advice.
func TestEmbedded(t *testing.T) {
	t.Setenv(EnvSDKDir, "")
	_, onDisk := os.Stat(filepath.Join("dist", runtimeFile))
	if Embedded() != (onDisk == nil) {
		t.Fatalf("Embedded() is %v, with dist/%s on disk: %v", Embedded(), runtimeFile, onDisk)
	}
	_, err := Files()
	resp, body := serve("/" + runtimeFile)
	if Embedded() {
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("embedded SDK: Files: %v; GET: %s", err, resp.Status)
		}
		return
	}
	if !errors.Is(err, ErrNotEmbedded) || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "make build") {
		t.Errorf("no embedded SDK: Files: %v; GET: %s %q", err, resp.Status, body)
	}
}
