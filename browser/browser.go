// Package browser holds the browser peer's files as the daemon serves them
// at /sdk/: the Go runtime compiled to WebAssembly (browser/wasm), Go's
// wasm_exec.js, and the JS SDK (browser/js), assembled into dist by
// `make sdk` and embedded into the accel binary. A binary built without
// them (a plain `go build`) says so instead of serving a broken page.
package browser

import (
	"embed"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"os"
)

//go:embed all:dist
var dist embed.FS

// EnvSDKDir names a directory to serve instead of the embedded files (for
// development and tests, with a freshly built SDK).
const EnvSDKDir = "ACCEL_SDK_DIR"

// runtimeFile is the runtime, the file every SDK holds and a checkout's
// dist lacks until `make sdk` runs.
const runtimeFile = "accel.wasm"

// ErrNotEmbedded is Files' error in a binary built without the SDK.
var ErrNotEmbedded = errors.New("the browser SDK is not embedded in this binary: build with `make build` (or run `make sdk` before `go build ./cmd/accel`)")

// Embedded reports whether the SDK was built into this binary: `make
// build` builds it first, while a plain `go build` embeds only
// dist/README.md.
func Embedded() bool {
	_, err := fs.Stat(dist, "dist/"+runtimeFile)
	return err == nil
}

// Files returns the SDK's files: $ACCEL_SDK_DIR when set, else the ones
// embedded at build time. The error, where they lack the runtime, says
// how to build them.
func Files() (fs.FS, error) {
	if dir := os.Getenv(EnvSDKDir); dir != "" {
		files := os.DirFS(dir)
		if _, err := fs.Stat(files, runtimeFile); err != nil {
			return nil, fmt.Errorf("$%s (%s) holds no browser SDK: build one there with scripts/build-sdk.sh %s", EnvSDKDir, dir, dir)
		}
		return files, nil
	}
	if !Embedded() {
		return nil, ErrNotEmbedded
	}
	sub, _ := fs.Sub(dist, "dist") // dist is always there
	return sub, nil
}

// Handler serves the SDK's files with the headers a page needs to run the
// runtime: cross-origin isolation (COOP same-origin, COEP require-corp) for
// WebAssembly threads, and CORP so isolated pages may load them. Without
// the SDK (Files' error) it answers every request 503 with a page that
// says how to build it.
func Handler() http.Handler {
	files, err := Files()
	if err != nil {
		return missing(err)
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// missing answers every request 503 with a page that gives err.
func missing(err error) http.Handler {
	page := `<!doctype html>
<meta charset="utf-8">
<title>accel · no browser SDK</title>
<h1>No browser SDK</h1>
<p>` + html.EscapeString(err.Error()) + `</p>
<p>The playground, the dashboard and the SDK at /sdk/ need the browser SDK (the runtime compiled to WebAssembly and the JS SDK), which <code>make sdk</code> assembles into browser/dist for <code>go build</code> to embed. The node itself runs without it.</p>
`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, page)
	})
}
