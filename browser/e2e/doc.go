// Package e2e holds the end-to-end tests and the benchmark that drive
// headless Chromium against accel daemons on 127.0.0.1: the browser SDK
// loading a model over the trustless gateway and over each libp2p
// transport, its verified block cache, its model API, the WebGPU backend,
// offload failover, and the web UI; and the browser peer measured beside
// the node.
//
// The tests build cmd/accel and the SDK (scripts/build-sdk.sh) into a
// temporary directory, add the test pages of testdata/ to that SDK, and
// have the daemons serve it at /sdk/ ($ACCEL_SDK_DIR), so that the pages
// load the SDK from their own origin, cross-origin isolated, as the web
// UI does; the SDK that binaries embed holds no test pages. They use
// Debian's Chromium (make tools installs it) and skip without it, unless
// ACCEL_REQUIRE_CHROMIUM=1, when they fail. The benchmark:
//
//	go test ./browser/e2e/ -run '^$' -bench BrowserVsNode -benchtime 1x -timeout 30m
package e2e
