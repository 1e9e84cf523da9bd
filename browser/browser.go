// Package browser holds the browser peer's files as the daemon serves them
// at /sdk/: the Go runtime compiled to WebAssembly (browser/wasm), Go's
// wasm_exec.js, and the JS SDK (browser/js), assembled into dist by
// `make sdk` and embedded into the accel binary.
package browser

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
)

//go:embed all:dist
var dist embed.FS

// EnvSDKDir names a directory to serve instead of the embedded files (for
// development and tests, with a freshly built SDK).
const EnvSDKDir = "ACCEL_SDK_DIR"

// Files returns the SDK's files: $ACCEL_SDK_DIR when set, else the ones
// embedded at build time.
func Files() fs.FS {
	if dir := os.Getenv(EnvSDKDir); dir != "" {
		return os.DirFS(dir)
	}
	sub, _ := fs.Sub(dist, "dist") // dist is always there
	return sub
}

// Handler serves the SDK's files with the headers a page needs to run the
// runtime: cross-origin isolation (COOP same-origin, COEP require-corp) for
// WebAssembly threads, and CORP so isolated pages may load them.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
