# accel — see README.md. Every target works on a fresh machine with Go: `make tools` (a
# dependency of test) installs staticcheck and builds Kubo from the Go module proxy.
GO        ?= go
BIN       ?= bin
MODELS    ?= ../shared/models
FUZZTIME  ?= 30s
STATICCHECK ?= $(shell command -v staticcheck || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: build sdk test tools lint wasm wasm-test unit bench bench-go bench-transfer bench-browser bench-serve fuzz demo eval clean

build: sdk
	$(GO) build -o $(BIN)/accel ./cmd/accel

# The browser SDK and runtime the daemon embeds and serves at /sdk/ (sizes printed).
sdk:
	./scripts/build-sdk.sh

# The README's test command: formatting, vet, staticcheck, the wasm build
# and every test (fuzz seed corpora included; the Kubo interop tests must
# run, not skip).
test: tools lint wasm wasm-test unit

# Test tools: staticcheck, Kubo's ipfs for the interop tests, and Debian's
# Chromium for the browser tests (apt-get, as root).
tools:
	@[ -x "$(STATICCHECK)" ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	./scripts/install-kubo.sh
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./inference/... ./loader/ ./proto/... ./browser/ ./browser/wasm/ ./browser/kern/
	$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) ./browser/wasm/ ./browser/kern/

wasm:
	GOOS=js GOARCH=wasm $(GO) build ./inference/... ./loader/ ./proto/... ./browser/...

# The browser's matrix kernels (browser/kern) in node: every kernel against
# quant's Go kernels, bit for bit, at each SIMD level node runs, on one
# thread and on 1, 2 and 3 (worker_threads); and the runtime's loading
# into their arena (browser/wasm). The test host assembles the kernels
# with wabt, an npm package of browser/js.
wasm-test: browser/js/node_modules/.package-lock.json
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec=$(CURDIR)/browser/kern/go_js_wasm_exec ./browser/kern/ ./browser/wasm/

# The SDK's npm packages (esbuild, js-libp2p, wabt), installed again when
# the lock file changes.
browser/js/node_modules/.package-lock.json: browser/js/package-lock.json
	cd browser/js && npm ci --no-audit --no-fund --loglevel=error

unit:
	ACCEL_REQUIRE_KUBO=1 ACCEL_REQUIRE_CHROMIUM=1 $(GO) test -count=1 ./...

# The main job on the default setup: a greedy story from stories260K.
demo: build
	$(BIN)/accel run --model $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin --temp 0 -n 256 "Once upon a time"

# Quality table (README): KL and top-1 agreement against f32 per precision.
eval: build
	$(BIN)/accel eval --model $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin

# Speed table (README): the synthetic ≈307M model per format at 1 and 2
# threads; with LLAMA_CPP=DIR (a llama.cpp build, DIR/bin/llama-bench),
# llama.cpp's figures for the same files beside them.
LLAMA_CPP ?=
bench: build
	LLAMA_CPP=$(LLAMA_CPP) ./scripts/bench.sh

# Node-to-node delivery vs Kubo (README's transfer table): add, pin add,
# cold-block latency and peak memory on a ≈500 MiB model, both chunk sizes.
bench-transfer: tools
	$(GO) test ./interop/ -run '^$$' -bench TransferVsKubo -benchtime 1x -timeout 30m

# The browser peer beside the node and wllama: load MB/s of the ≈307M
# synthetic model into Chromium over each transport vs a daemon's pin add,
# wasm decode tokens/s vs native, the runtime's heap, the SDK's download
# sizes; then prefill and decode tokens/s of the page, of wllama (llama.cpp
# compiled to wasm) in the same Chromium and of the native engine on Q4_0
# and Q8_0, each page's memory, and WebGPU on Chromium's software adapter.
bench-browser:
	$(GO) test ./browser/e2e/ -run '^$$' -bench BrowserVsNode -benchtime 1x -timeout 30m

# The inference API beside llama.cpp's llama-server, LLAMA_CPP=DIR naming a
# llama.cpp build directory with bin/llama-server (without it, accel's
# figures alone): aggregate decode tokens/s and time to first token of 1, 4
# and 8 concurrent streamed completions on the ≈307M synthetic Q4_0 model,
# each server with as many slots; then a daemon that holds nothing, asked
# for the model by CID, against a pin add of it: its first token and its
# last block.
bench-serve:
	LLAMA_CPP=$(LLAMA_CPP) $(GO) test ./serve/ -run '^$$' -bench ServeVsLlamaServer -benchtime 1x -timeout 30m

# Kernel and model benchmarks through go test.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./inference/bench/
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./inference/quant/ ./inference/membw/

# Run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
